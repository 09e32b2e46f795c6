"""The session's trained runs are shared by the pytest-xdist workers (tests/conftest.py): the worker that finds
a run already started joins it and waits for the status its starter's child writes, instead of training it again;
a run that ended badly (or was stopped) fails the joiner at once, with the run's stderr."""

import os
import threading

import pytest

import conftest


def test_a_worker_joins_a_training_already_started_and_waits_for_its_status(tmp_path):
    out = tmp_path / "trained" / "run"
    out.parent.mkdir(parents=True)  # another worker has started it (under the shared lock)
    joiner = conftest._start_or_join("trained_run", tmp_path / "no_corpus", tmp_path)
    assert joiner.proc is None and joiner.out == out  # nothing started here
    def finish():  # as the wrapper writes it: atomically
        (out.parent / "run.rc.tmp").write_text("0")
        os.replace(out.parent / "run.rc.tmp", out.parent / "run.rc")

    threading.Timer(0.5, finish).start()
    assert joiner.result() == out


@pytest.mark.parametrize("status", ["1", "killed"])
def test_a_joined_training_that_failed_or_was_stopped_fails_the_joiner_with_its_stderr(tmp_path, status):
    out = tmp_path / "trained" / "run"
    out.parent.mkdir(parents=True)
    (out.parent / "run.stderr").write_text("error: the run's last words\n")
    (out.parent / "run.rc").write_text(status)
    with pytest.raises(AssertionError, match="the run's last words"):
        conftest.TinyTraining.join(out).result()


def test_a_stopped_training_writes_killed_for_its_joiners(tmp_path):
    """stop() kills the child and writes its status, so the workers waiting for it do not wait TIMEOUT_S."""
    import subprocess
    import sys

    training = conftest.TinyTraining.join(tmp_path / "run")
    training.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    training.stop()
    assert training.proc.returncode is not None and (tmp_path / "run.rc").read_text() == "killed"
