"""common/cli.py: a Ctrl-C that Python drops inside a finalizer still ends the script with 130."""

import gc
import os
import signal

import pytest

from common import cli


# Python reports the KeyboardInterrupt it drops in the finalizer as "unraisable": that drop is the case tested
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_swallowed_by_a_finalizer_still_exits_130(capsys):
    class Finalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # the handler's KeyboardInterrupt is dropped here

    @cli.entry_point
    def main(argv):
        Finalized()
        gc.collect()
        return 0

    before = signal.getsignal(signal.SIGINT)
    assert main([]) == cli.EXIT_INTERRUPTED
    assert "interrupted; rerun the same command to resume" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back

    @cli.entry_point
    def quiet(argv):
        return 0

    assert quiet([]) == 0  # a later entry point starts without the old interrupt
