"""The standing agency's view: each award's round against the quotas, incomplete dossiers,
late ones to accept, and the XLSX list for the emulation council's meeting."""

from __future__ import annotations

from bot.award_access import scope_units
from bot.award_exports import council_workbook, overview
from bot.awards import award_rules
from bot.core.context import Context
from bot.core.messages import Attachment, Button, Reply
from bot.core.router import Router

__all__ = ["router"]

router = Router()

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SHOWN = 10


def _reviewer_roles() -> tuple[str, ...]:
    return award_rules().reviewers


async def _scope(ctx: Context) -> str | None:
    """The widest unit where this person is the standing agency (their province)."""
    units = await scope_units(ctx, _reviewer_roles())
    if not units:
        ctx.audit("award.denied", "overview", None)
        ctx.say("error.not_allowed")
        return None
    units.sort(key=lambda u: len(ctx.tree.path_of(u.code) or ""))
    return units[0].code


async def _overview(ctx: Context) -> None:
    code = await _scope(ctx)
    if code is None:
        return
    t = ctx.t
    summary = await overview(ctx.session, ctx.tree, code, ctx.today)
    lines = [t("award.overview.header", place=summary.place.name)]
    for award_round in summary.rounds:
        lines.append(
            t(
                "award.overview.award",
                award=t(f"award.type.{award_round.award.id}"),
                year=award_round.year,
                preparing=t.number(award_round.preparing),
            )
        )
        if not award_round.lines:
            lines.append(
                t("award.overview.no_quota", count=t.number(sum(award_round.counts.values())))
            )
        for line in award_round.lines:
            text = t(
                "award.overview.quota",
                quota=t(f"award.quota.{line.quota.id}"),
                count=t.number(line.count),
                max=t.number(line.quota.max),
            )
            if line.over:
                text += " " + t("award.overview.over", by=t.number(line.count - line.quota.max))
            elif line.under:
                text += " " + t("award.overview.under", min=t.number(line.quota.min))
            lines.append(text)
    if summary.incomplete:
        lines.append(t("award.overview.incomplete", count=t.number(len(summary.incomplete))))
        for nomination, parts in summary.incomplete[:_SHOWN]:
            names = ", ".join(t(f"award.part.{p.id}") for p in parts)
            lines.append(f"• {nomination.code} – {nomination.nominee_name}: {names}")
    buttons = [
        Button(f"{n.code} · {t('award.status_short.late')}", f"ad:open:{n.id}")
        for n in summary.late[:_SHOWN]
    ]
    if summary.late:
        lines.append(t("award.overview.late", count=t.number(len(summary.late))))
    buttons.append(Button(t("award.button.xlsx"), "ao:xlsx"))
    buttons.append(Button(t("award.button.list"), "aw:list"))
    ctx.audit("award.overview", "org_unit", code)
    ctx.send(Reply("\n".join(lines), tuple(buttons)))


async def _xlsx(ctx: Context) -> None:
    code = await _scope(ctx)
    if code is None:
        return
    content, rows = await council_workbook(ctx.session, ctx.tree, code, ctx.t, ctx.today)
    ctx.audit("award.exported", "org_unit", code, rows=rows)
    ctx.send(
        Reply(
            ctx.t("award.xlsx.ready", count=ctx.t.number(rows)),
            attachment=Attachment(
                f"khen-thuong-{code}-{ctx.today.isoformat()}.xlsx", XLSX_MIME, content=content
            ),
        )
    )


@router.payload("ao")
async def overview_button(ctx: Context) -> None:
    action = (ctx.incoming.payload or "").partition(":")[2]
    if action == "sum":
        await _overview(ctx)
    elif action == "xlsx":
        await _xlsx(ctx)
    else:
        ctx.say("error.stale_button")


@router.command("tonghopkt", "awardsummary")
async def overview_command(ctx: Context) -> None:
    await _overview(ctx)
