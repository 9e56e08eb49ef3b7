"""Pure layout: one form model in, the PDF's bytes out (A4, fonts embedded).

The fonts are TrueType files with every Vietnamese letter (DejaVu Serif, Debian's
``fonts-dejavu-core`` and ``fonts-dejavu-extra``); fpdf2 embeds the subset used, with a
ToUnicode map so the text can be searched and copied. The same model and fonts give the
same bytes: the PDF's dates are the form's own.
"""

from __future__ import annotations

import functools
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fontTools.subset import Options, Subsetter  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from contracts.vietnam import VN_TZ
from services.runtime.documents.model import (
    TITLES,
    AnyForm,
    ApologyForm,
    ControlSheetForm,
    Issuer,
    ReceiptForm,
    RefusalForm,
    RegisterForm,
    ResultDocument,
    StopNoticeForm,
    SupplementRequestForm,
)

DEFAULT_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FAMILY = "DejaVuSerif"
FONT_FILES = {"": "DejaVuSerif.ttf", "B": "DejaVuSerif-Bold.ttf", "I": "DejaVuSerif-Italic.ttf"}
OUTCOME_NAMES = {"early": "Trước hạn", "on_time": "Đúng hạn", "late": "Quá hạn"}
BLANK = "……………………"


@dataclass(frozen=True, slots=True)
class Fonts:
    """Where the TrueType files are; a missing italic falls back to the regular face."""

    directory: Path = DEFAULT_FONT_DIR

    def files(self) -> dict[str, Path]:
        """The faces to embed: subsets of the TrueType files to the letters Vietnamese
        text uses (made once per process; loading a whole face costs a second a page)."""
        return dict(_subsets(self.directory))

    def originals(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for style, name in FONT_FILES.items():
            path = self.directory / name
            if path.is_file():
                found[style] = path
        if "" not in found or "B" not in found:
            raise FileNotFoundError(
                f"{self.directory}: DejaVuSerif.ttf and DejaVuSerif-Bold.ttf are needed"
                " (Debian: apt-get install fonts-dejavu-core fonts-dejavu-extra)"
            )
        found.setdefault("I", found[""])
        return found


# Latin (Vietnamese letters are in Latin-1, Extended-A/B and Extended Additional),
# combining marks, general punctuation, currency and letterlike symbols.
SUBSET_RANGES = (
    (0x20, 0x24F),
    (0x300, 0x36F),
    (0x1E00, 0x1EFF),
    (0x2000, 0x206F),
    (0x20A0, 0x20BF),
    (0x2100, 0x214F),
    (0x2190, 0x2193),
)


@functools.cache
def _subsets(directory: Path) -> tuple[tuple[str, Path], ...]:
    target = Path(tempfile.mkdtemp(prefix="onestop-fonts-"))
    unicodes = [c for low, high in SUBSET_RANGES for c in range(low, high + 1)]
    made: list[tuple[str, Path]] = []
    for style, source in Fonts(directory).originals().items():
        font = TTFont(source)
        options = Options(notdef_outline=True, name_IDs=["*"], layout_features=["*"])
        options.drop_tables = [*options.drop_tables, "FFTM"]  # FontForge's timestamps
        subsetter = Subsetter(options)
        subsetter.populate(unicodes=unicodes)
        subsetter.subset(font)
        path = target / f"{FAMILY}-{style or 'R'}.ttf"
        font.save(path)
        made.append((style, path))
    return tuple(made)


def vn_time(moment: datetime) -> str:
    local = moment.astimezone(VN_TZ)
    return f"{local:%H} giờ {local:%M} phút, ngày {local:%d} tháng {local:%m} năm {local:%Y}"


def vn_day(moment: datetime) -> str:
    return f"{moment.astimezone(VN_TZ):%d/%m/%Y}"


def _t(text: str) -> str:
    """Precomposed letters (NFC): one glyph per letter, and text that extracts as typed."""
    return unicodedata.normalize("NFC", text)


class _Page:
    """A thin writer over fpdf2 with the parts every form shares."""

    def __init__(self, fonts: Fonts, title: str, issued_at: datetime, landscape: bool) -> None:
        pdf = FPDF(orientation="L" if landscape else "P", unit="mm", format="A4")
        for style, path in fonts.files().items():
            pdf.add_font(FAMILY, style, str(path))
        pdf.set_margins(20, 15, 15)
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.set_creation_date(issued_at)
        pdf.set_title(_t(title))
        pdf.set_lang("vi")
        pdf.set_creator("Một cửa liên thông")
        pdf.add_page()
        self.pdf = pdf

    @property
    def width(self) -> float:
        return float(self.pdf.epw)

    def font(self, style: str = "", size: float = 12) -> None:
        self.pdf.set_font(FAMILY, style, size)

    def line(self, text: str, style: str = "", size: float = 12, align: str = "L") -> None:
        self.font(style, size)
        self.pdf.multi_cell(
            self.width, 6.5, _t(text), align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    def gap(self, mm: float = 3) -> None:
        self.pdf.ln(mm)

    def header(
        self, form_no: str | None, issuer: Issuer, code: str | None, issued_at: datetime
    ) -> None:
        pdf = self.pdf
        self.font("I", 10)
        if form_no is not None:
            pdf.cell(
                self.width,
                5,
                _t(f"Mẫu số {form_no}"),
                align="R",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
        else:
            pdf.ln(5)
        left, right = self.width * 0.42, self.width * 0.58
        top = pdf.get_y()
        self.font("", 11)
        heading = []
        if issuer.parent_name:
            heading.append(issuer.parent_name.upper())
        pdf.set_xy(pdf.l_margin, top)
        if heading:
            pdf.multi_cell(
                left, 5.5, _t("\n".join(heading)), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
        self.font("B", 11)
        pdf.multi_cell(
            left, 5.5, _t(issuer.unit_name.upper()), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        if code:
            self.font("", 10)
            pdf.multi_cell(
                left, 5.5, _t(f"Số: {code}"), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
        left_bottom = pdf.get_y()
        pdf.set_xy(pdf.l_margin + left, top)
        self.font("B", 11)
        pdf.multi_cell(
            right,
            5.5,
            _t("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
            align="C",
            new_x=XPos.LEFT,
            new_y=YPos.NEXT,
        )
        self.font("B", 12)
        pdf.multi_cell(
            right, 6, _t("Độc lập - Tự do - Hạnh phúc"), align="C", new_x=XPos.LEFT, new_y=YPos.NEXT
        )
        local = issued_at.astimezone(VN_TZ)
        place = f"{issuer.place}, " if issuer.place else ""
        self.font("I", 11)
        pdf.multi_cell(
            right,
            6,
            _t(f"{place}ngày {local:%d} tháng {local:%m} năm {local:%Y}"),
            align="C",
            new_x=XPos.LEFT,
            new_y=YPos.NEXT,
        )
        pdf.set_xy(pdf.l_margin, max(left_bottom, pdf.get_y()) + 6)

    def title(self, text: str, subtitle: str | None = None) -> None:
        self.line(text, "B", 14, "C")
        if subtitle:
            self.line(subtitle, "I", 12, "C")
        self.gap(4)

    def table(
        self,
        headings: tuple[str, ...],
        widths: tuple[int, ...],
        rows: Sequence[Sequence[str]],
        size: float = 11,
    ) -> None:
        self.font("", size)
        with self.pdf.table(
            col_widths=widths,
            line_height=6,
            text_align="LEFT",
            first_row_as_headings=True,
            headings_style=FontFace(emphasis="BOLD"),
        ) as table:
            head = table.row()
            for heading in headings:
                head.cell(_t(heading), align="C")
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(_t(value))
        self.gap(3)

    def signature(self, signer_title: str, left_title: str | None = None) -> None:
        pdf = self.pdf
        self.gap(6)
        half = self.width / 2
        top = pdf.get_y()
        if left_title:
            self.font("B", 12)
            pdf.multi_cell(
                half, 6, _t(left_title.upper()), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
            self.font("I", 11)
            pdf.multi_cell(
                half, 6, _t("(Ký và ghi rõ họ tên)"), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
        pdf.set_xy(pdf.l_margin + half, top)
        self.font("B", 12)
        pdf.multi_cell(
            half, 6, _t(signer_title.upper()), align="C", new_x=XPos.LEFT, new_y=YPos.NEXT
        )
        self.font("I", 11)
        pdf.multi_cell(half, 6, _t("(Đã ký số)"), align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_x(pdf.l_margin)
        self.gap(8)
        self.line(
            "Văn bản điện tử có chữ ký số của cơ quan; kiểm tra tính toàn vẹn và người ký"
            " bằng dịch vụ xác thực văn bản (POST /v1/documents/verify).",
            "I",
            9,
        )

    def bytes(self) -> bytes:
        return bytes(self.pdf.output())


def _name(applicant: str | None) -> str:
    return applicant or BLANK


def _receipt(page: _Page, f: ReceiptForm) -> None:
    page.line(f"{f.issuer.unit_name} tiếp nhận hồ sơ của: Ông/Bà {_name(f.applicant_name)}")
    page.line(f"Nội dung yêu cầu giải quyết: {f.procedure_name} (mã thủ tục {f.procedure_code})")
    page.line(f"Hình thức nộp: {f.channel_name}")
    page.line("1. Thành phần hồ sơ gồm:")
    rows = [(str(i), d.name, d.type_code or "") for i, d in enumerate(f.documents, 1)]
    page.table(("STT", "Tên giấy tờ", "Mã thành phần"), (12, 120, 40), rows)
    page.line("2. Số lượng hồ sơ: 01 bộ")
    page.line(f"3. Thời gian nhận hồ sơ: {vn_time(f.received_at)}")
    page.line(f"4. Thời gian trả kết quả giải quyết hồ sơ: {vn_time(f.appointment_at)}", "B")
    page.line(
        "5. Vào Sổ theo dõi hồ sơ. Tra cứu tình trạng hồ sơ bằng mã hồ sơ và 4 số cuối điện thoại."
    )
    page.signature(f.signer_title, left_title="Người nộp hồ sơ")


def _supplement(page: _Page, f: SupplementRequestForm) -> None:
    page.line(f"Kính gửi: Ông/Bà {_name(f.applicant_name)}")
    received = f" ngày {vn_day(f.received_at)}" if f.received_at else ""
    page.line(
        f"{f.issuer.unit_name} tiếp nhận hồ sơ số {f.dossier_code}{received} về thủ tục"
        f" {f.procedure_name} (mã {f.procedure_code})."
    )
    page.line("Sau khi xem xét, đề nghị Ông/Bà bổ sung, hoàn thiện hồ sơ gồm những nội dung sau:")
    rows = [(str(i), d.name, d.type_code or "") for i, d in enumerate(f.missing, 1)]
    page.table(("STT", "Giấy tờ cần bổ sung, hoàn thiện", "Mã thành phần"), (12, 120, 40), rows)
    page.line(f"Lý do: {f.reason}")
    page.line(
        "Thời gian giải quyết hồ sơ tạm dừng cho đến khi nhận đủ hồ sơ bổ sung. Trong quá"
        " trình hoàn thiện hồ sơ, nếu có vướng mắc, Ông/Bà liên hệ Bộ phận Tiếp nhận và"
        " Trả kết quả để được hướng dẫn."
    )
    page.signature(f.signer_title)


def _refusal(page: _Page, f: RefusalForm) -> None:
    page.line(f"Kính gửi: Ông/Bà {_name(f.applicant_name)}")
    page.line(
        f"{f.issuer.unit_name} nhận được hồ sơ số {f.dossier_code} về thủ tục"
        f" {f.procedure_name} (mã {f.procedure_code})."
    )
    page.line(
        "Sau khi xem xét, căn cứ quy định hiện hành, cơ quan từ chối tiếp nhận, giải quyết"
        " hồ sơ này với lý do sau:"
    )
    for i, reason in enumerate(f.reasons, 1):
        page.line(f"{i}. {reason}")
    page.line("Xin thông báo để Ông/Bà được biết và thực hiện.")
    page.signature(f.signer_title)


def _apology(page: _Page, f: ApologyForm) -> None:
    unit = f.issuer.unit_name
    page.line(f"Kính gửi: Ông/Bà {_name(f.applicant_name)}")
    page.line(
        f"{unit} đã tiếp nhận hồ sơ số {f.dossier_code} về thủ tục {f.procedure_name} của"
        f" Ông/Bà, hẹn trả kết quả vào lúc {vn_time(f.old_appointment_at)}."
    )
    page.line(
        f"Tuy nhiên đến nay, {unit} chưa trả kết quả giải quyết hồ sơ cho Ông/Bà đúng hẹn."
        f" Lý do: {f.reason}"
    )
    page.line(
        f"Sự chậm trễ này đã gây phiền hà, tốn kém chi phí, công sức của Ông/Bà. {unit} xin lỗi"
        f" Ông/Bà và sẽ trả kết quả giải quyết hồ sơ cho Ông/Bà vào lúc"
        f" {vn_time(f.new_appointment_at)}."
    )
    page.line("Xin trân trọng cảm ơn sự hợp tác của Ông/Bà.")
    page.signature(f.signer_title)


def _stop(page: _Page, f: StopNoticeForm) -> None:
    page.line(f"Kính gửi: Ông/Bà {_name(f.applicant_name)}")
    page.line(
        f"{f.issuer.unit_name} thông báo dừng xử lý hồ sơ số {f.dossier_code} về thủ tục"
        f" {f.procedure_name} (mã {f.procedure_code})."
    )
    page.line(f"Lý do dừng xử lý: {f.reason}")
    page.line(
        "Hồ sơ và kết quả xử lý (nếu có) được lưu tại Bộ phận Tiếp nhận và Trả kết quả;"
        " Ông/Bà liên hệ để được hướng dẫn."
    )
    page.signature(f.signer_title)


def _control_sheet(page: _Page, f: ControlSheetForm) -> None:
    page.line(f"Mã hồ sơ: {f.dossier_code}")
    page.line(f"Người nộp: Ông/Bà {_name(f.applicant_name)}")
    page.line(f"Thủ tục: {f.procedure_name} (mã {f.procedure_code})")
    page.line(f"Ngày nhận hồ sơ: {vn_time(f.received_at)}")
    if f.appointment_at is not None:
        page.line(f"Ngày hẹn trả kết quả: {vn_time(f.appointment_at)}")
    rows = [
        (
            str(i),
            line.from_unit_name + (f" ({line.step_name})" if line.step_name else ""),
            line.to_unit_name,
            f"{line.at.astimezone(VN_TZ):%H:%M %d/%m/%Y}",
            OUTCOME_NAMES.get(line.outcome or "", "Chưa đánh giá"),
        )
        for i, line in enumerate(f.lines, 1)
    ]
    page.table(
        ("STT", "Bên giao", "Bên nhận", "Thời gian giao, nhận", "Kết quả"),
        (10, 55, 50, 32, 28),
        rows,
        size=10,
    )
    page.signature(f.signer_title)


def _register(page: _Page, f: RegisterForm) -> None:
    page.line(f"Từ ngày {f.period_from:%d/%m/%Y} đến ngày {f.period_to:%d/%m/%Y}", "I", 12, "C")
    page.gap(2)
    rows = [
        (
            str(i),
            r.dossier_code,
            r.procedure_name,
            r.applicant_name or BLANK,
            f"{r.received_at.astimezone(VN_TZ):%d/%m/%Y}",
            f"{r.appointment_at.astimezone(VN_TZ):%d/%m/%Y}" if r.appointment_at else "",
            f"{r.returned_at.astimezone(VN_TZ):%d/%m/%Y}" if r.returned_at else "",
            r.status_name,
        )
        for i, r in enumerate(f.rows, 1)
    ]
    page.table(
        (
            "STT",
            "Mã hồ sơ",
            "Tên thủ tục",
            "Người nộp",
            "Ngày nhận",
            "Hẹn trả",
            "Ngày trả",
            "Tình trạng",
        ),
        (10, 58, 57, 40, 24, 24, 24, 30),
        rows,
        size=9,
    )
    page.line(f"Tổng số hồ sơ: {len(f.rows)}")
    page.signature(f.signer_title)


def _result(page: _Page, f: ResultDocument) -> None:
    page.line(f"Kính gửi: Ông/Bà {_name(f.applicant_name)}")
    page.line(
        f"{f.issuer.unit_name} thông báo hồ sơ số {f.dossier_code} về thủ tục"
        f" {f.procedure_name} (mã {f.procedure_code}) đã được giải quyết xong lúc"
        f" {vn_time(f.decided_at)}."
    )
    page.line("Kết quả giải quyết gồm:")
    page.table(
        ("STT", "Giấy tờ kết quả"),
        (12, 160),
        [(str(i), paper) for i, paper in enumerate(f.papers, 1)],
    )
    page.signature(f.signer_title)


def render(form: AnyForm, fonts: Fonts | None = None) -> bytes:
    """The form as an unsigned PDF."""
    fonts = fonts or Fonts()
    landscape = isinstance(form, RegisterForm)
    page = _Page(fonts, TITLES[form.form], form.issued_at, landscape)
    code = None if isinstance(form, RegisterForm) else form.dossier_code
    page.header(None if form.form == "KQ" else form.form, form.issuer, code, form.issued_at)
    page.title(TITLES[form.form])
    match form:
        case ReceiptForm():
            _receipt(page, form)
        case SupplementRequestForm():
            _supplement(page, form)
        case RefusalForm():
            _refusal(page, form)
        case ApologyForm():
            _apology(page, form)
        case StopNoticeForm():
            _stop(page, form)
        case ControlSheetForm():
            _control_sheet(page, form)
        case RegisterForm():
            _register(page, form)
        case ResultDocument():
            _result(page, form)
    return page.bytes()
