"""Signed documents: the forms of Thông tư 03/2025/TT-VPCP and the result, as PDF.

``model`` (typed forms) → ``layout.render`` (pure, fonts embedded) → ``signing``
(PAdES with pyHanko; verification against the trust roots) — shared by the services that
issue forms, each of which fills the models from its own tables.
"""
