from __future__ import annotations

import pytest

from chatd.bot import DATA_DIR
from chatd.bot.quick_replies import QuickReply, QuickReplyBook, QuickReplyError, quick_replies_from_json, render


def book() -> QuickReplyBook:
    return QuickReplyBook(
        [
            QuickReply("t-hi", "/hi", "问候", "您好 {visitor.name|亲}，我是{agent.name}", "通用"),
            QuickReply("t-refund", "/refund", "退款到账", "退款 1-3 天到账", "售后"),
            QuickReply("t-return", "/return", "退货流程", "申请售后后寄回", "售后"),
            QuickReply("a1-hi", "/hi", "我的问候", "亲爱的{visitor.name}", "通用", owner="a1"),
            QuickReply("a1-ret", "/retention", "挽留", "送您一张券", "售后", owner="a1"),
            QuickReply("a2-secret", "/re-secret", "别人的", "只给 a2 看", owner="a2"),
        ]
    )


def test_render_known_unknown_and_defaults() -> None:
    values = {"visitor.name": "小王", "agent.name": "Ana"}
    assert render("您好 {visitor.name}，我是{agent.name}", values) == "您好 小王，我是Ana"
    assert render("您好 {visitor.name|亲}", {}) == "您好 亲"
    assert render("您好 {visitor.name}！", {"visitor.name": None}) == "您好 ！"  # known but missing: empty
    assert render("订单 {order.idd}", values) == "订单 {order.idd}"  # unknown: left for the agent to see
    assert render("{custom.thing}", {"custom.thing": "ok"}) == "ok"


@pytest.mark.parametrize(
    "text", ["{", "}", "{}", "{{visitor.name}}", "{visitor.name", "{ visitor.name }", "{1}", "%s {0}"]
)
def test_render_never_crashes(text: str) -> None:
    assert isinstance(render(text, {"visitor.name": "x"}), str)


def test_shortcut_prefix_personal_first() -> None:
    hits = [r.id for r in book().search("a1", "/re")]
    assert hits == ["a1-ret", "t-refund", "t-return"]  # a2's personal reply is invisible
    assert [r.id for r in book().search("a2", "/re")] == ["a2-secret", "t-refund", "t-return"]
    assert [r.id for r in book().search("a1", "/REFUND")] == ["t-refund"]


def test_personal_reply_hides_team_reply_with_same_shortcut() -> None:
    assert book().get("a1", "/hi").id == "a1-hi"  # type: ignore[union-attr]
    assert book().get("a3", "/hi").id == "t-hi"  # type: ignore[union-attr]
    assert book().get("a3", "/nope") is None
    assert [r.id for r in book().visible_to("a1")][:2] == ["a1-hi", "a1-ret"]


def test_search_by_text() -> None:
    assert [r.id for r in book().search("a1", "售后")] == ["a1-ret", "t-refund", "t-return"]
    assert [r.id for r in book().search("a3", "寄回")] == ["t-return"]
    assert [r.id for r in book().search("a3", "")][:1] == ["t-hi"]


def test_validation() -> None:
    with pytest.raises(QuickReplyError, match=r"quick reply 1 \(id 'x'\): shortcut 'refund'"):
        QuickReplyBook([QuickReply("x", "refund", "t", "text")])
    with pytest.raises(QuickReplyError, match="duplicate id 'x'"):
        QuickReplyBook([QuickReply("x", "/a", "t", "text"), QuickReply("x", "/b", "t", "text")])
    with pytest.raises(QuickReplyError, match="quick reply 1: missing field text"):
        quick_replies_from_json('[{"id": "x", "shortcut": "/a", "title": "t"}]')


def test_demo_quick_replies() -> None:
    replies = quick_replies_from_json((DATA_DIR / "quick_replies_demo.json").read_text(encoding="utf-8"))
    demo = QuickReplyBook(replies)
    assert {r.owner for r in replies} == {None, "a1"}
    greeting = demo.get("a2", "/hi")
    assert greeting is not None
    assert render(greeting.text, {"agent.name": "小美"}).startswith("您好，我是客服小美")
