"""The subscribe page (index.html) and the public feed URLs, with a QR code per feed (segno)."""

from __future__ import annotations

import hashlib
import html
import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from calendars.dirty import DISTRICT, branch_key, community_key
from calendars.urls import feed_path, feed_url, webcal_url
from scheduler.models import Branch, Community

if TYPE_CHECKING:
    from scheduler.settings import Settings

DISTRICT_NAME = "龙城街道"


def _feed(settings: Settings, key: str, kind: str, slug: str, name: str, community: str) -> dict[str, Any]:
    path = feed_path(key)
    url = feed_url(settings.public_base_url, key)
    return {
        "key": key, "kind": kind, "slug": slug, "name": name, "community": community, "path": path,
        "https": url, "webcal": webcal_url(url),
    }


def site_feeds(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Every public feed: district, then each community followed by its branches (slug order)."""
    communities = session.execute(select(Community.id, Community.slug, Community.name).order_by(Community.slug)).all()
    branches = session.execute(
        select(Branch.slug, Branch.name, Branch.community_id).order_by(Branch.slug)
    ).all()
    by_community: dict[int, list[Any]] = defaultdict(list)
    for b in branches:
        by_community[b.community_id].append(b)
    feeds = [_feed(settings, DISTRICT, "district", "", f"{DISTRICT_NAME} 全部公开服务", "")]
    for c in communities:
        feeds.append(_feed(settings, community_key(c.slug), "community", c.slug, c.name, c.slug))
        for b in by_community[c.id]:
            feeds.append(_feed(settings, branch_key(b.slug), "branch", b.slug, b.name, c.slug))
    return feeds


def feed_urls(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """The subscribe links of the public feeds (``roster feeds urls``)."""
    return site_feeds(session, settings)


def index_fingerprint(feeds: list[dict[str, Any]], settings: Settings) -> str:
    data = json.dumps([feeds, settings.public_base_url], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


#: Pixels per QR module and the quiet zone in modules (ISO/IEC 18004 asks for 4).
QR_SCALE = 4
QR_BORDER = 4


def qr_svg(url: str) -> str:
    """An inline SVG QR code, large enough to scan from a printed poster or another phone's screen.

    It keeps its own size (whole pixels per module) and carries a viewBox, so the page's stylesheet
    may shrink it on a narrow screen (``max-width``) but never crops it: a clipped code does not scan.
    """
    import segno

    code = segno.make(url, error="m")
    width, height = code.symbol_size(scale=QR_SCALE, border=QR_BORDER)
    svg = str(code.svg_inline(scale=QR_SCALE, border=QR_BORDER, title=url, omitsize=True))
    return svg.replace("<svg ", f'<svg width="{width}" height="{height}" ', 1)


_STYLE = """
body{font-family:-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;
padding:1rem;max-width:46rem;margin:auto;line-height:1.6;color:#222;font-size:17px}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.feed{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;padding:.8rem 0;border-bottom:1px solid #eee}
.feed svg{flex:none;max-width:100%;height:auto;background:#fff}.feed .t{flex:1;min-width:12rem}
a.b{display:inline-block;margin:.25rem .5rem .25rem 0;padding:.45rem .9rem;border-radius:.4rem;
background:#c62f2f;color:#fff;text-decoration:none}a.b.s{background:#555}
.u{font-size:.8rem;color:#666;word-break:break-all}.note{background:#f6f6f6;padding:.6rem 1rem;border-radius:.4rem}
"""


def _feed_html(feed: dict[str, Any]) -> str:
    name = html.escape(feed["name"])
    https = html.escape(feed["https"], quote=True)
    webcal = html.escape(feed["webcal"], quote=True)
    return (
        f'<div class="feed" id="{html.escape(feed["key"], quote=True)}">{qr_svg(feed["https"])}'
        f'<div class="t"><strong>{name}</strong><br>'
        f'<a class="b" href="{webcal}">订阅到日历</a><a class="b s" href="{https}">下载 / 复制链接</a>'
        f'<div class="u">{https}</div></div></div>\n'
    )


def render_index(feeds: list[dict[str, Any]], settings: Settings) -> str:
    """The page volunteers open on a phone (or scan at a service centre) to subscribe."""
    community_names = {f["slug"]: f["name"] for f in feeds if f["kind"] == "community"}
    parts = [
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{DISTRICT_NAME}志愿服务日历订阅</title><style>{_STYLE}</style></head><body>",
        f"<h1>{DISTRICT_NAME}志愿服务日历订阅</h1>",
        "<p class=\"note\">用手机扫码或点击“订阅到日历”，即可在手机日历里看到服务时间、地点和缺员岗位，"
        "日程每 6 小时自动更新。<br>iPhone：点击“订阅到日历”。华为、小米等安卓手机：复制链接，"
        "在日历应用中选择“添加订阅日历”或“导入网络日历”后粘贴。<br>"
        "公开日历不含任何个人信息；个人排班日历的私人链接请向协调员索取。</p>",
    ]
    current = None
    for feed in feeds:
        if feed["kind"] == "district":
            parts.append("<h2>全街道</h2>\n")
        elif feed["kind"] == "community" or feed["community"] != current:
            current = feed["community"]
            parts.append(f"<h2>{html.escape(community_names.get(current, current))}</h2>\n")
        parts.append(_feed_html(feed))
    parts.append("</body></html>\n")
    return "".join(parts)
