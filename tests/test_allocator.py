"""The ``privcausal`` command's allocator settings (glibc tunables, set by re-executing once)."""

from __future__ import annotations

import subprocess
import sys

from privcausal.training.allocator import TUNABLES, tuned_environ


def test_tunables_added_once_and_the_users_kept():
    env = tuned_environ({"PATH": "/bin"}, platform="linux")
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": TUNABLES}
    assert tuned_environ(env, platform="linux") is None  # the re-executed process does not loop
    mine = tuned_environ({"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"}, platform="linux")
    assert mine["GLIBC_TUNABLES"] == "glibc.malloc.tcache_count=0:" + TUNABLES
    assert tuned_environ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1"}, platform="linux") is None


def test_off_linux_or_when_turned_off_nothing_changes():
    assert tuned_environ({}, platform="darwin") is None
    assert tuned_environ({}, platform="win32") is None
    assert tuned_environ({"PRIVCAUSAL_MALLOC": "default"}, platform="linux") is None


def test_console_main_reexecutes_with_the_tunables_and_keeps_the_exit_status():
    probe = (
        "import sys; sys.argv = ['privcausal', 'no-such-command']; "
        "from privcausal.cli import console_main; console_main()"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "no-such-command" in out.stderr
    ok = subprocess.run(
        [sys.executable, "-c", probe.replace("'no-such-command'", "'--version'")],
        capture_output=True, text=True, timeout=120,
    )
    assert ok.returncode == 0 and ok.stdout.strip()
