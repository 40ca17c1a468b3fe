from collections import Counter
from datetime import timedelta
import os
from unittest.mock import patch

from PIL import Image

from odoo import fields
from odoo.tests import tagged

from odoo.addons.emboux_core.tests.common import TourCase
from odoo.addons.emboux_saas.tests.common import make_portal_user

from .sending_common import SENDING_ENV

# the colours the chart draws with (emboux_outbound.outbound_usage)
SENT_BLUE = (13, 110, 253)
PROBLEM_RED = (220, 53, 69)
TODAY_SENT = 15
# days ago: (sent, bounces, complaints); 40 + 2 a day back, the 7th the busiest
HISTORY = {days: (100 if days == 7 else 40 + 2 * days, 0, 0) for days in range(1, 30)}
HISTORY |= {3: (46, 5, 0), 10: (60, 7, 1), 20: (80, 0, 2)}


@tagged("post_install", "-at_install")
class TestPortalUsageTour(TourCase):
    """The sending usage a customer sees, in Debian's Chromium: the list's
    count against the daily limit, the page's bars and 30-day chart. The
    page is kept as a screenshot and its chart is read back from the
    pixels: one bar a day, as tall as the day's count, red where there
    were bounces or complaints."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, dict.fromkeys(SENDING_ENV, "")))
        cls.env["emboux.send.decision"]._sync_settings()
        tenant = cls.env["emboux.tenant"]._get_or_create("portal-usage-tour", "Usage Co")
        cls.domain = cls.env["emboux.domain"].create(
            {
                "name": "usage.example.com",
                "tenant_id": tenant.id,
                "warmup_profile": False,
                "outbound_tier_id": cls.env.ref("emboux_outbound.tier_free").id,
            }
        )
        cls.domain._set_verification("verified")
        today = fields.Date.today()
        cls.env["emboux.outbound.daily"].create(
            [
                {
                    "domain_id": cls.domain.id,
                    "day": today - timedelta(days=days),
                    "sent": sent,
                    "bounces": bounces,
                    "complaints": complaints,
                }
                for days, (sent, bounces, complaints) in HISTORY.items()
            ]
        )
        # today's messages counted by the send decision itself
        decision = cls.domain.outbound_send_decision(count=TODAY_SENT)
        assert decision["allowed"], decision
        cls.user = make_portal_user(
            cls.env, tenant, "portal_usage_tour", password="portal_usage_tour"
        )

    def test_portal_usage_tour(self):
        past_sent = sum(sent for sent, _b, _c in HISTORY.values())
        self.assertEqual(past_sent + TODAY_SENT, 2091)  # the total the tour reads
        with patch.dict(os.environ, {"EMBOUX_MAIL_HOST": "mx.tour-host.test"}):
            path = self.run_tour(
                "/my/domains", "emboux_portal_usage_tour", self.user.login, "portal_usage.png"
            )
        self.assertTrue(path.is_file(), "the screenshot of the usage page was not kept")
        bars = chart_bars(Image.open(path).convert("RGB"))
        # oldest first: 29 days ago ... yesterday, today
        expected = [HISTORY[days] for days in range(29, 0, -1)] + [(TODAY_SENT, 0, 0)]
        self.assertEqual(len(bars), 30, f"bars read from {path}")
        tallest = max(height for height, _red in bars)
        for (height, red), (sent, bounces, complaints) in zip(bars, expected, strict=True):
            self.assertAlmostEqual(height / tallest, sent / 100, delta=0.03)
            self.assertEqual(red > 0, bool(bounces + complaints), f"bars read from {path}")


def chart_bars(image):
    """The chart's bars read from a screenshot: ``(height, red pixels)``
    of each blue-and-red shape standing on the baseline, left to right.
    The legend's squares stand lower and are left out."""
    width, height = image.size
    pixels = image.load()
    coloured = {
        (x, y)
        for y in range(height)
        for x in range(width)
        if pixels[x, y] in (SENT_BLUE, PROBLEM_RED)
    }
    shapes = []
    while coloured:
        todo = [coloured.pop()]
        shape = []
        while todo:
            x, y = todo.pop()
            shape.append((x, y))
            # two rows up or down: across the blended row where blue meets red
            for near in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1), (x, y + 2), (x, y - 2)):
                if near in coloured:
                    coloured.remove(near)
                    todo.append(near)
        shapes.append(shape)
    baseline = Counter(max(y for _x, y in shape) for shape in shapes).most_common(1)[0][0]
    bars = []
    for shape in shapes:
        bottom = max(y for _x, y in shape)
        if abs(bottom - baseline) > 1:
            continue
        top = min(y for _x, y in shape)
        red = sum(1 for x, y in shape if pixels[x, y] == PROBLEM_RED)
        bars.append((min(x for x, _y in shape), bottom - top + 1, red))
    return [(bar_height, red) for _left, bar_height, red in sorted(bars)]
