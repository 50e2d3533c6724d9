"""Exercises of 19_deployment."""

import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from course.exercises import Exercise, Incorrect, NotAttempted, checklist, expect

ROOT = Path(__file__).resolve().parent.parent.parent


class HypercornConfig(Exercise):
    """Write a Hypercorn TOML config: HTTPS with the course certificate, two workers."""

    id = "19_config"
    hints = [
        "`workers = 2` starts two worker processes; TOML numbers have no quotes.",
        'The private key is `"certs/server-key.pem"` (`ca.pem` is the certificate authority, for clients).',
    ]
    wrong = [("workers = 2", "workers = 1"), ('keyfile = "certs/server-key.pem"', 'keyfile = "certs/ca.pem"')]

    def _check(self, config_toml):
        from hypercorn.config import Config

        from course import tls_context

        if "____" in config_toml:
            raise NotAttempted("Replace every `____` in the exercise cell, run it, then check again.")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "hypercorn.toml"
            path.write_text(config_toml)
            try:
                config = Config.from_toml(str(path))
            except Exception as error:  # noqa: BLE001 - a TOML syntax error is the learner's to fix
                expect(False, f"Hypercorn cannot read this config: {error}")
        expect(config.workers == 2, f"the config starts {config.workers} worker(s), not 2.")
        expect(config.bind == ["127.0.0.1:8443"], f"bind is {config.bind}, not ['127.0.0.1:8443'].")
        expect(config.ssl_enabled, "set certfile and keyfile to serve HTTPS.")
        tls_context()  # makes the course's certificates if they are missing
        # Paths in the config are relative to where hypercorn runs: the repo root.
        config.certfile = str(ROOT / config.certfile)
        config.keyfile = str(ROOT / config.keyfile)
        try:
            config.create_ssl_context()
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            expect(False, f"the certificate and key do not load together ({error}): "
                          "is keyfile the server's private key?")


_STUBBORN = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
             "print('ready', flush=True); time.sleep(60)")
_POLITE = "import sys, time; print('ready', flush=True); time.sleep(60)"
_DONE = "import sys; print('ready', flush=True); sys.exit(3)"


class StopProcess(Exercise):
    """Build it: stop a server process, SIGTERM first, then SIGKILL if it is still there after `grace` s."""

    id = "19_stop"
    hints = [
        "`process.terminate()` sends SIGTERM; `process.wait(timeout=grace)` waits at most `grace` seconds, "
        "then raises `subprocess.TimeoutExpired`.",
        "In `except subprocess.TimeoutExpired:` call `process.kill()` (SIGKILL: a process cannot ignore it), "
        "then `return process.wait()`: the exit code, negative when a signal ended the process.",
    ]
    wrong = [("process.kill()", "pass"), ("process.terminate()", "process.kill()"),
             ("timeout=grace", "timeout=None"), ("return process.wait()", "process.wait()")]

    def _check(self, stop_process):
        polite = self._run_stop(stop_process, _POLITE)
        stubborn = self._run_stop(stop_process, _STUBBORN)
        done = self._run_stop(stop_process, _DONE)
        with checklist() as expect:
            expect(polite["exit"] == -15, f"a process that exits on SIGTERM ended with {polite['exit']}, not -15 "
                                          "(ended by SIGTERM): send SIGTERM first, so it can shut down cleanly.")
            expect(stubborn["returned"], "with grace=0.5, stop_process() had not returned after 3 s: a process "
                                         "that ignores SIGTERM waits forever unless you kill it.")
            expect(stubborn["exit"] == -9, f"a process that ignores SIGTERM ended with {stubborn['exit']}, not -9 "
                                           "(SIGKILL): kill it once the grace period is over.")
            expect(all(run["result"] == run["exit"] for run in (polite, stubborn, done) if run["returned"]),
                   "stop_process() should return the process's exit code (what `process.wait()` returns).")
            expect(done["returned"] and done["result"] == 3,
                   f"a process that had already exited with code 3 gave {done['result']!r}: "
                   "stop_process() should still return its exit code.")

    @staticmethod
    def _run_stop(stop, code):
        """Start ``code`` in a process, call ``stop(process, grace=0.5)`` in a thread; say what happened."""
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        outcome = {}

        def call():
            try:
                outcome["result"] = stop(process, grace=0.5)
            except Exception as error:  # noqa: BLE001 - the learner's error becomes the feedback
                outcome["error"] = error

        try:
            process.stdout.readline()  # "ready": the signal handler is in place
            if code == _DONE:
                process.wait(10)
            thread = threading.Thread(target=call, daemon=True)
            thread.start()
            thread.join(3)
            if "error" in outcome:
                error = outcome["error"]
                raise Incorrect(f"stop_process() raised {type(error).__name__}: {error}")
            returned = not thread.is_alive()
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()
        return {"returned": returned, "result": outcome.get("result"), "exit": process.returncode}


q1 = HypercornConfig()
q2 = StopProcess()
