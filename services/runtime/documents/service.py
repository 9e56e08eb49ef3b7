"""What a route handler uses: render and sign a form off the event loop, verify a PDF,
and answer it as a download."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from services.runtime.documents.layout import Fonts, render
from services.runtime.documents.model import AnyForm, file_name
from services.runtime.documents.settings import DocumentSettings
from services.runtime.documents.signing import DocumentSigner, Verification, load_certificates
from services.runtime.problems import ProblemError

log = logging.getLogger(__name__)
PDF = "application/pdf"
REASONS = {
    "01": "Tiếp nhận hồ sơ và hẹn trả kết quả",
    "02": "Yêu cầu bổ sung, hoàn thiện hồ sơ",
    "03": "Từ chối tiếp nhận, giải quyết hồ sơ",
    "04": "Xin lỗi và hẹn lại ngày trả kết quả",
    "05": "Dừng xử lý hồ sơ",
    "06": "Kiểm soát quá trình giải quyết hồ sơ",
    "07": "Sổ theo dõi hồ sơ",
    "KQ": "Trả kết quả giải quyết thủ tục hành chính",
}


class Documents:
    """One service's document desk: its fonts, its signer and its trust roots."""

    def __init__(self, settings: DocumentSettings) -> None:
        self.fonts = Fonts(Path(settings.document_font_dir))
        self.fonts.files()  # missing fonts are named here, before anything is rendered
        self.signer = DocumentSigner(
            settings.signing_identity(), load_certificates([settings.trust_roots_path()])
        )
        self.place = settings.document_place or None

    def issue_now(self, form: AnyForm) -> bytes:
        return self.signer.sign(
            render(form, self.fonts), reason=REASONS[form.form], location=self.place
        )

    async def issue(self, form: AnyForm) -> bytes:
        """The form rendered and signed, in a worker thread (tens of milliseconds)."""
        return await asyncio.to_thread(self.issue_now, form)

    async def verify(self, pdf: bytes) -> Verification:
        return await asyncio.to_thread(self.signer.verify, pdf)


def documents_of(request: Request) -> Documents:
    """The running service's documents (made once, on first use)."""
    rt: Any = request.app.state.runtime
    found = rt.state.get("documents")
    if found is None:
        settings = rt.settings
        if not isinstance(settings, DocumentSettings):
            raise ProblemError(404, "Dịch vụ này không phát hành văn bản")
        try:
            found = rt.state["documents"] = Documents(settings)
        except (OSError, ValueError) as exc:  # fonts or key files missing or unreadable
            log.error("documents cannot be issued: %s", exc)
            raise ProblemError(
                503, "Chưa thể phát hành văn bản có chữ ký số", "Fonts or signing key missing."
            ) from exc
    assert isinstance(found, Documents)
    return found


def pdf_response(
    pdf: bytes, form: str, dossier_code: str, headers: dict[str, str] | None = None
) -> Response:
    """The signed PDF, shown inline, never cached (it names the citizen)."""
    return Response(
        pdf,
        media_type=PDF,
        headers={
            "Content-Disposition": f'inline; filename="{file_name(form, dossier_code)}"',
            "Cache-Control": "no-store",
            **(headers or {}),
        },
    )
