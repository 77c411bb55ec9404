"""Progress of long stages: a live bar on a terminal, one line per finished stage in a log.

A bar's carriage-return frames make a log unreadable (thousands of frames per stage), so
where stderr is not a terminal a stage prints only its closing line: what it did, how many
and how long.
"""
import sys
import time


def is_terminal(stream=None):
    """Whether `stream` (default stderr) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


class Progress:
    """Progress of one stage of `total` items (tqdm on a terminal; else one closing line).

    Parameters
    ----------
    total : items in the stage; initial : items already done (resumed)
    desc : the stage's name; unit : what an item is
    enabled : False shows nothing
    closing_line : in a log, print "desc: done/total unit in s" when the stage closes
    """

    def __init__(self, total, desc, initial=0, unit="task", enabled=True, closing_line=True):
        self.total, self.done, self.desc, self.unit = int(total), int(initial), desc, unit
        self.enabled, self.closing_line = enabled, closing_line
        self.t0 = time.perf_counter()
        self.bar = None
        if enabled and is_terminal():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr,
                            dynamic_ncols=True, smoothing=0.05, leave=closing_line)

    def update(self, note=None):
        """One more item done; `note` is shown beside the bar (a terminal only)."""
        self.done += 1
        if self.bar is not None:
            if note is not None:
                self.bar.set_postfix_str(str(note), refresh=False)
            self.bar.update(1)

    def close(self):
        """End the stage (a log gets its closing line)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.enabled and self.closing_line:
            print(f"{self.desc}: {self.done}/{self.total} {self.unit}s in {time.perf_counter() - self.t0:.1f} s",
                  file=sys.stderr, flush=True)
        self.enabled = False
