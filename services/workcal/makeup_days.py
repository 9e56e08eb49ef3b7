"""Official day swaps for civil servants that the ``holidays`` package does not carry.

The ``holidays`` package (country ``VN``) already knows the Labor Code holidays, their
substituted days and the swaps it lists in ``weekend_workdays`` (checked with
holidays 0.109: 2024-04-29 off / Sat 2024-05-04 worked, 2025-05-02 off / Sat 2025-04-26
worked, 2026-08-31 off / Sat 2026-08-22 worked). The entries below are *added* to what
the package says (a union, so they stay harmless once the package learns them).

Each year the Government (Prime Minister or a Deputy Prime Minister, announced by the
Ministry of Home Affairs) fixes the swaps; anything missing here can still be set per
unit by an administrator (``UnitCalendarConfig.extra_days_off`` /
``extra_working_days``), which beats this table.

Sources:
* 2026 New Year: Văn bản 12729/VPCP-KGVX ngày 25/12/2025 — Phó Thủ tướng Phạm Thị Thanh
  Trà đồng ý đề xuất của Bộ Nội vụ: công chức, viên chức nghỉ Tết Dương lịch 2026 từ
  thứ Năm 01/01 đến hết Chủ nhật 04/01/2026; hoán đổi ngày làm việc thứ Sáu 02/01/2026
  sang ngày nghỉ hằng tuần thứ Bảy 10/01/2026 (reported by VietNamNet, 26/12/2025).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import Final

#: Working days declared days off by a swap → name (the package's wording style).
EXTRA_DAYS_OFF: Final[Mapping[date, str]] = MappingProxyType(
    {
        date(2026, 1, 2): "Ngày nghỉ (thay cho ngày 10/01/2026)",  # 12729/VPCP-KGVX
    }
)

#: Weekend days declared working days by a swap (make-up working Saturdays) → reason.
EXTRA_MAKEUP_WORKDAYS: Final[Mapping[date, str]] = MappingProxyType(
    {
        date(2026, 1, 10): "Làm bù cho ngày 02/01/2026",  # 12729/VPCP-KGVX
    }
)
