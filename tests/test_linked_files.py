"""Files linked by Zalo: fetched and kept when they arrive, or left as the link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.channels.linked_files import LinkedFiles
from bot.core.messages import Attachment, Incoming
from tests.fakes.zalo import FakeZaloOA
from tests.support.server import free_port

SCAN = b"%PDF-1.4 a signed page %%EOF"


@pytest.fixture
async def cdn() -> AsyncIterator[FakeZaloOA]:
    async with FakeZaloOA() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def sent(url: str) -> Incoming:
    paper = Attachment("bien-ban.pdf", "application/pdf", file_ref=url)
    return Incoming("zalo_oa", "user-1", "k1", attachment=paper)


def files(tmp_path: Path, http: aiohttp.ClientSession, max_bytes: int) -> LinkedFiles:
    return LinkedFiles(tmp_path, "zalo_oa", lambda: http, seconds=5, max_bytes=max_bytes)


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_file_up_to_the_limit_is_kept(
    tmp_path: Path, cdn: FakeZaloOA, http: aiohttp.ClientSession, chunked: bool
) -> None:
    cdn.cdn.chunked = chunked
    incoming = await files(tmp_path, http, len(SCAN)).keep(sent(cdn.host_file("a.pdf", SCAN)))
    assert incoming.attachment is not None
    assert str(incoming.attachment.file_ref).startswith("file:")
    assert incoming.attachment.filename == "bien-ban.pdf"
    assert [p.read_bytes() for p in (tmp_path / "uploads").iterdir()] == [SCAN]


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_larger_file_is_left_as_its_link(
    tmp_path: Path, cdn: FakeZaloOA, http: aiohttp.ClientSession, chunked: bool
) -> None:
    """Said by its length, or found out while reading when the server did not say."""
    cdn.cdn.chunked = chunked
    url = cdn.host_file("a.pdf", SCAN)
    incoming = await files(tmp_path, http, len(SCAN) - 1).keep(sent(url))
    assert incoming == sent(url)
    assert not (tmp_path / "uploads").exists()


async def test_a_link_that_does_not_answer_is_kept_as_it_is(
    tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}/cdn/a.pdf?secret=abc"
    assert await files(tmp_path, http, 1000).keep(sent(url)) == sent(url)
    assert "ClientConnectorError" in caplog.text
    assert "secret" not in caplog.text  # a link is never logged


async def test_what_is_no_link_is_left_alone(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    text = Incoming("zalo_oa", "user-1", "k1", text="xin chào")
    stored = sent("file:abc")
    linked = files(tmp_path, http, 1000)
    assert await linked.keep(text) == text
    assert await linked.keep(stored) == stored
