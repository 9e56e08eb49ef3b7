"""The applicant-name fold: Python and intake's SQL function use one table."""

from __future__ import annotations

import re
import unicodedata

from services.intake.domain.search import fold_name, fold_table, like_escape
from tests.support.infra import REPO

MIGRATION = REPO / "services/intake/migrations/008_applicant_search.sql"


def test_vietnamese_names_fold_to_ascii_small_letters() -> None:
    assert fold_name("Nguyễn Thị Lan") == "nguyen thi lan"
    assert fold_name("  ĐẶNG   Văn Đức ") == "dang van duc"
    assert fold_name(unicodedata.normalize("NFD", "Trần Thị Ánh Tuyết")) == "tran thi anh tuyet"
    assert fold_name("Lê Hoàng Quân\tPHẠM") == "le hoang quan pham"


def test_every_precomposed_vietnamese_letter_folds() -> None:
    letters = "ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
    for letter in letters + letters.upper():
        assert re.fullmatch("[a-z]", fold_name(letter)), letter


def test_the_migration_folds_with_the_same_table() -> None:
    sql = MIGRATION.read_text(encoding="utf-8")
    src, dst = fold_table()
    assert f"'{src}'" in sql and f"'{dst}'" in sql
    assert len(src) == len(dst)


def test_like_wildcards_in_a_query_are_literal() -> None:
    assert like_escape("a%b_c\\") == "a\\%b\\_c\\\\"
