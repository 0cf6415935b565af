"""Admin control for /imagine: channels, quotas, blocklist, audit and usage (no discord import)."""

from bot.control.audit import AuditEntry, Change
from bot.control.blocklist import BlocklistStore
from bot.control.channels import (
    KEEP,
    ChannelSettings,
    ChannelSettingsStore,
    Mode,
    check_caps,
    is_allowed,
)
from bot.control.control import Control
from bot.control.errors import InvalidSetting, PromptBlocked, QuotaExceeded
from bot.control.periods import Period, period_end, period_start
from bot.control.quotas import MAX_LIMIT, QuotaBook, QuotaFigure, QuotaLimit, Reservation
from bot.control.usage import MemberUsage, UsageReport, usage

__all__ = [
    "KEEP",
    "MAX_LIMIT",
    "AuditEntry",
    "BlocklistStore",
    "Change",
    "ChannelSettings",
    "ChannelSettingsStore",
    "Control",
    "InvalidSetting",
    "MemberUsage",
    "Mode",
    "Period",
    "PromptBlocked",
    "QuotaBook",
    "QuotaExceeded",
    "QuotaFigure",
    "QuotaLimit",
    "Reservation",
    "UsageReport",
    "check_caps",
    "is_allowed",
    "period_end",
    "period_start",
    "usage",
]
