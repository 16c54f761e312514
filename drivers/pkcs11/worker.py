"""`AsyncToken`: a token driven from asyncio through its own thread.

Every device call (log-in, object search, signature — a card may take a second or wait on a PIN pad)
runs on one dedicated thread per token, so the event loop never blocks and calls on one token never
interleave (PKCS#11 sessions are not thread-safe).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from drivers.pkcs11.cms import build_cms
from drivers.pkcs11.credentials import Credential
from drivers.pkcs11.module import Module, TokenInfo
from drivers.pkcs11.session import TokenSession

T = TypeVar("T")


class AsyncToken:
    """One token of one module; ``open`` waits for it to be inserted."""

    def __init__(self, module_path: str | Path, *, label: str | None = None, serial: str | None = None) -> None:
        self.module_path = str(module_path)
        self.label = label
        self.serial = serial
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pkcs11-token")
        self._session: TokenSession | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, functools.partial(fn, *args))

    def _open(self, wait_s: float) -> TokenInfo:
        module = Module(self.module_path)
        if wait_s > 0:
            module.wait_for_token(label=self.label, serial=self.serial, timeout_s=wait_s)
        self._session = TokenSession(module, label=self.label, serial=self.serial)
        return self._session.info

    async def open(self, *, wait_s: float = 0.0) -> TokenInfo:
        """Load the module and find the token (waiting up to ``wait_s`` for it to be inserted)."""
        return await self._run(self._open, wait_s)

    @property
    def session(self) -> TokenSession:
        if self._session is None:
            raise RuntimeError("open() the token first")
        return self._session

    @property
    def info(self) -> TokenInfo:
        return self.session.info

    async def login(self, pin: str | None) -> None:
        await self._run(self.session.login, pin)

    async def certificates(self) -> list[Credential]:
        """Certificates readable without log-in (whose token it is, before the PIN)."""
        return await self._run(self.session.certificates)

    async def credentials(self) -> list[Credential]:
        return await self._run(self.session.credentials)

    async def sign(self, credential: Credential, data: bytes) -> bytes:
        return await self._run(self.session.sign, credential.key_id, credential.key_kind, data)

    async def sign_cms(
        self, credential: Credential, content: bytes, *, detached: bool = False, signing_time: datetime | None = None
    ) -> bytes:
        """CMS over ``content``; the whole assembly runs on the token thread (one hop per signature)."""

        def job() -> bytes:
            def sign(data: bytes) -> bytes:
                return self.session.sign(credential.key_id, credential.key_kind, data)

            return build_cms(
                sign, credential.key_kind, credential.certificate, content, detached=detached, signing_time=signing_time
            )

        return await self._run(job)

    @property
    def reopened(self) -> int:
        return self.session.reopened

    async def close(self) -> None:
        if self._session is not None:
            await self._run(self._session.close)
        self._thread.shutdown(wait=True)
