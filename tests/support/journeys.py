"""Journeys several channel tests share, whichever chat takes them."""

from __future__ import annotations

from tests.support.transcripts import Chat, Reply, find_button

__all__ = ["achievement_up_to_photo", "new_household"]


async def new_household(chat: Chat) -> None:
    """A newcomer who agrees and signs up as a household of Thôn Bình An, Xã Di Linh."""
    last = await chat.send_text("/start")
    for title in ("Tiếng Việt", "Đồng ý", "Hộ gia đình"):
        last = await chat.send_payload(find_button(last, title))
    await chat.send_text("thon binh an, di linh")


async def achievement_up_to_photo(chat: Chat) -> list[Reply]:
    """The achievement report answered up to its photo, the question it ends on."""
    await chat.send_text("/thanhtich")
    last: list[Reply] = []
    for text in ("co", "30tr", "Mua 2 con bò giống", "co", "Ủ phân vi sinh", "-", "8tr"):
        last = await chat.send_text(text)
    assert "ảnh" in "\n".join(r.text for r in last)
    return last
