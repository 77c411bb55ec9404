"""Reports: blocks computed from a sweep's tables (`blocks`), figures (`figures`), and
Markdown/HTML rendering of a sweep folder (`render`)."""
