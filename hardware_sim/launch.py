"""Run the simulated centre as a child process: for tests, benchmarks and ``rocars-edge up``.

    central = CentralProcess(tmp_path / "central", seed=7, cp="SBC")
    central.start()          # free 127.0.0.1 port, waits for /health
    RocarsClient(central.url, token=central.token)
    central.stop()           # SIGTERM by pid, SIGKILL if it lingers
    central.start()          # same port, same data: the centre came back

The child's output goes to ``DATA/central.log``. Its demo RSA keys come from a reusable
pool in the temp folder (``ROCARS_DEMO_KEY_POOL``), so a new centre starts in about a
second instead of spending it making keys. It runs in a session of its own (a Ctrl-C at
the terminal, or ``timeout``, signals the parent alone, which stops it in order) and,
on Linux, gets SIGTERM when the thread that started it ends: a parent killed with
SIGKILL leaves no centre behind (``child_process_options``).

A security code is accepted once; ``security_code(driver)`` gives a code of the driver's
token the centre has not seen yet, moving a ``test_clock`` centre's code clock on a step
where a real driver would wait for the token's next code.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from hardware_sim.accounts import CODE_STEP_S, code_step, totp_now
from hardware_sim.certs import KEY_POOL_ENV
from hardware_sim.errors import SimError
from rocars.broker import free_port
from rocars.config import http_verify
from rocars.timeutil import utc_now

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "dev-central-token"


class CentralStartError(SimError):
    """The centre did not answer /health in time (its log says why)."""

    key = "sim_central_start"


class CentralStartCancelled(CentralStartError):
    """``start(cancel=...)``: the event was set before the centre answered; it was stopped."""

    key = "sim_central_start_cancelled"


#: prctl(2) option: the signal a child gets when the thread that forked it ends
PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Any:
    """libc's ``prctl`` (Linux), None elsewhere or where it cannot be found."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux for SIGTERM when the parent goes (None elsewhere).

    libc is loaded here, before the fork: the child only makes the call. If the parent
    died between the fork and the call, the child ends itself at once.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def child_process_options() -> dict[str, Any]:
    """``subprocess.Popen`` options of every child the simulator starts.

    A session of its own: a Ctrl-C at the terminal or coreutils ``timeout`` signals the
    whole foreground process group, and children that stop at once under a parent that
    is still finishing its work (and about to ask them for its summary) turn a clean stop
    into a crash; the parent, signalled alone, stops them in order. On Linux, SIGTERM
    when the parent goes (``PR_SET_PDEATHSIG``), so a parent killed with SIGKILL does
    not leave them running. Linux sends it when the *thread* that started the child
    ends: start children from a thread that lives as long as they should (the main one).
    """
    options: dict[str, Any] = {"start_new_session": True}
    preexec = _die_with_parent()
    if preexec is not None:
        options["preexec_fn"] = preexec
    return options


class CentralProcess:
    """The simulated central ROCARS in a child process.

    ``url``, ``token`` (the device bearer token of ``cp``), ``pid`` (None when stopped),
    ``data_dir``; ``start()``, ``stop()``, ``running``. Usable as a context manager.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        seed: int = 7,
        cp: str = "SBC",
        direction: str = "import",
        token: str = DEFAULT_TOKEN,
        port: int | None = None,
        delay_ms: int = 0,
        synthetic_bundles: int = 0,
        trucks_per_kind: int = 2,
        inspect_share: float = 0.1,
        demo: bool = True,
        extra_args: list[str] | None = None,
        start_timeout: float | None = None,
        test_clock: bool = False,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.seed = seed
        self.cp = cp
        self.direction = direction
        self.token = token
        self.port = port or free_port()
        self.delay_ms = delay_ms
        self.synthetic_bundles = synthetic_bundles
        self.trucks_per_kind = trucks_per_kind
        self.inspect_share = inspect_share
        self.demo = demo
        self.extra_args = list(extra_args or [])
        self.test_clock = test_clock
        #: HTTPS: (certificate, key, the CA a client checks it against)
        self.tls = tls
        self._verify = http_verify(self.url, str(tls[2]) if tls else "", "the simulated centre")
        self._code_steps: dict[str, int] = {}  # account -> last step security_code gave
        self._code_offset = timedelta(0)  # the centre's code clock, as last heard
        # A bulk load happens before /health answers: allow for it (~100 us a bundle, loaded).
        self.start_timeout = start_timeout or 60.0 + synthetic_bundles / 10_000
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "central.log"

    def command(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "hardware_sim.cli",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data",
            str(self.data_dir),
            "--seed",
            str(self.seed),
            "--cp",
            self.cp,
            "--direction",
            self.direction,
            "--token",
            f"{self.cp}={self.token}",
            "--delay-ms",
            str(self.delay_ms),
            "--synthetic-bundles",
            str(self.synthetic_bundles),
            "--trucks-per-kind",
            str(self.trucks_per_kind),
            "--inspect-share",
            str(self.inspect_share),
        ]
        if not self.demo:
            args.append("--no-demo")
        if self.test_clock:
            args.append("--test-clock")
        if self.tls is not None:
            args += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        return args + self.extra_args

    @property
    def exit_code(self) -> int | None:
        """The exit code of a centre that ended by itself; None while it runs (or stopped)."""
        return self._proc.poll() if self._proc is not None else None

    def start(self, cancel: threading.Event | None = None) -> None:
        """Start (or start again, same port and data) and wait until /health answers.

        ``cancel`` set while waiting: the centre is stopped and ``CentralStartCancelled``
        raised at once (a Ctrl-C of ``rocars-edge up`` during its start).
        """
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault(
            KEY_POOL_ENV, str(Path(tempfile.gettempdir()) / f"rocars-demo-keys-{os.getuid()}")
        )
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                **child_process_options(),
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise CentralStartError(
                    f"central exited with {code}; see {self.log_path}:\n{self._log_tail()}"
                )
            try:
                health = httpx.get(f"{self.url}/health", timeout=0.5, verify=self._verify)
                if health.status_code == 200:
                    logger.info("central up at %s (pid %d)", self.url, self._proc.pid)
                    return
            except httpx.HTTPError:
                pass
            if cancel is not None and cancel.is_set():
                self.stop()
                raise CentralStartCancelled("central start cancelled")
            time.sleep(0.05)
        self.stop()
        raise CentralStartError(
            f"central not healthy after {self.start_timeout}s; see {self.log_path}:\n"
            f"{self._log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM by pid; SIGKILL if it has not gone after ``timeout`` seconds.

        Returns the exit code (0 for a clean stop), None if it was not running.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is not None:
            return proc.returncode
        os.kill(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("central pid %d ignored SIGTERM; killing it", proc.pid)
            os.kill(proc.pid, signal.SIGKILL)
            return proc.wait(timeout)

    def kill(self) -> None:
        """Die at once, as a crashed centre does."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def security_code(self, driver: Mapping[str, Any]) -> str:
        """A code of ``driver``'s token (a ``/sim/accounts`` entry) not given out before.

        The centre accepts a code once, and none of an earlier step. Each call gives a
        code of a later step than the last one for this driver: the token's code now if
        that is later, else the next step's, the centre's code clock moved on to it (with
        ``test_clock``; without, this waits for the token's next code as a driver would).
        Codes of several drivers taken one after the other are all of about the same step,
        so they stay good together.
        """
        account, secret = str(driver["account"]), str(driver["totp_secret"])
        offset = self._code_clock()
        at = utc_now() + offset
        step = code_step(at)
        last = self._code_steps.get(account)
        if last is not None and step <= last:
            wait = timedelta(seconds=(last + 1) * CODE_STEP_S - at.timestamp())
            if self.test_clock:
                offset = self._code_clock(advance=wait)
            else:
                time.sleep(wait.total_seconds())
            at = utc_now() + offset
            step = code_step(at)
        self._code_steps[account] = step
        return totp_now(secret, at)

    def _code_clock(self, advance: timedelta | None = None) -> timedelta:
        """The centre's code-clock offset (zero without ``test_clock``), moved on first.

        While the centre is stopped, the offset it had is used (and moved on here only):
        a code made then cannot reach it, and a restarted centre starts again from zero.
        """
        if not self.test_clock:
            return timedelta(0)
        if not self.running:
            self._code_offset += advance or timedelta(0)
            return self._code_offset
        headers = {"Authorization": f"Bearer {self.token}"}
        if advance is None:
            r = httpx.get(
                f"{self.url}/sim/code-clock", headers=headers, timeout=10, verify=self._verify
            )
        else:
            seconds = math.ceil(advance.total_seconds())
            r = httpx.post(
                f"{self.url}/sim/code-clock",
                json={"advance_s": seconds},
                headers=headers,
                timeout=10,
                verify=self._verify,
            )
        r.raise_for_status()
        self._code_offset = timedelta(seconds=float(r.json()["offset_s"]))
        return self._code_offset

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> CentralProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
