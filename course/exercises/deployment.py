"""Exercises of 14_deployment."""

import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from course.exercises import Exercise, NotAttempted, expect

ROOT = Path(__file__).resolve().parent.parent.parent


class HypercornConfig(Exercise):
    """Write a Hypercorn TOML config: HTTPS with the course certificate, two workers."""

    id = "14_config"
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


class StopProcess(Exercise):
    """Stop a server process: SIGTERM first, then SIGKILL if it has not exited after `grace` s."""

    id = "14_stop"
    hints = [
        "`process.wait(timeout=grace)` waits at most `grace` seconds, then raises `TimeoutExpired`.",
        "`process.kill()` sends SIGKILL, which a process cannot ignore or handle.",
    ]
    wrong = [("process.kill()", "pass"), ("process.terminate()", "process.kill()"),
             ("timeout=grace", "timeout=None")]

    def _check(self, stop_process):
        polite = self._run_stop(stop_process, _POLITE)
        expect(polite == -15, f"a process that exits on SIGTERM ended with {polite}, not -15 "
                              "(killed by SIGTERM): send SIGTERM first, so it can shut down cleanly.")
        stubborn = self._run_stop(stop_process, _STUBBORN)
        expect(stubborn == -9, f"a process that ignores SIGTERM ended with {stubborn}, not -9 "
                               "(SIGKILL): kill it once the grace period is over.")

    @staticmethod
    def _run_stop(stop, code):
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            process.stdout.readline()  # "ready": the signal handler is in place
            outcome = {}
            thread = threading.Thread(target=lambda: outcome.update(code=stop(process, grace=0.5)),
                                      daemon=True)
            thread.start()
            thread.join(3)
            expect(not thread.is_alive(), "stop_process() did not return within 3 s with grace=0.5: a process "
                                          "that ignores SIGTERM waits forever unless you kill it.")
            expect(process.poll() is not None, "the process is still running after stop_process() returned.")
            return process.returncode
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()


q1 = HypercornConfig()
q2 = StopProcess()
