/* Bảng điều hành: dossier search, dossier page, trace waterfall (globals from console.js). */
"use strict";

// --- dossiers --------------------------------------------------------------------------------

async function viewDossiers(params) {
  const q = params.get("q") || "";
  const data = await api(`/console/api/dossiers?q=${encodeURIComponent(q)}`);
  const rows = data.items.map((d) => `<tr>
      <td>${dossierLink(d.dossier_code)}</td><td>${esc(procedureName(d.procedure_code))} <span class="muted">(${esc(d.procedure_code)})</span></td>
      <td>${esc(STATUS[d.status] || d.status)}</td><td>${fmtTime(d.updated_at)}</td></tr>`);
  const view = setView(`<div class="card"><h1>Tra cứu hồ sơ</h1>
    <form class="toolbar" id="search"><div><label for="q">Mã hồ sơ</label>
    <input id="q" value="${esc(q)}" placeholder="000.01.01.H99-261122-0001"></div>
    <button type="submit">Tìm</button></form>
    ${table(["Mã hồ sơ", "Thủ tục", "Trạng thái", "Cập nhật"], rows, 'id="dossier-list"')}</div>`);
  $("#search", view).onsubmit = (e) => {
    e.preventDefault();
    const value = $("#q", view).value.trim();
    location.hash = value.split("-").length >= 3 ? `#/dossier/${encodeURIComponent(value)}` : `#/dossiers?q=${encodeURIComponent(value)}`;
  };
}

function summary(details, proc) {
  const d = details || {};
  const parts = [];
  if (d.from_unit || d.to_unit) parts.push(`${esc(d.from_unit ? unitName(d.from_unit) : "?")} → ${esc(d.to_unit ? unitName(d.to_unit) : "kết thúc")}`);
  else if (d.unit_code) parts.push(`đơn vị ${esc(unitName(d.unit_code))}`);
  if (d.step_name || d.step_id) parts.push(`bước ${esc(d.step_name || stepName(proc, d.step_id))}`);
  if (d.due_at) parts.push(`hạn ${fmtTime(d.due_at)}`);
  if (d.channel && d.status) parts.push(`${esc(messageChannel(d.channel))}: ${esc(messageStatus(d.status))}`);
  else if (d.status) parts.push(esc(STATUS[d.status] || d.status));
  return parts.join(" · ");
}

function handoffRows(data) {
  const due = {};
  (data.steps || []).forEach((s) => { due[s.task_id] = s.due_at; });
  // SLA's verdict on the step when it has one (working time, its own rule for early);
  // otherwise only late or on time, from the step's due instant.
  const judged = {};
  ((data.deadlines && data.deadlines.deadlines) || []).forEach((dl) => {
    if (dl.task_id && dl.outcome) judged[dl.task_id] = dl.outcome;
  });
  const proc = (data.intake && data.intake.procedure_code) || (data.routing && data.routing.procedure_code);
  return (data.handoffs || []).map((h) => {
    const d = h.details || {};
    const limit = due[d.task_id];
    let verdict = '<span class="pill muted">Không có hạn bước</span>';
    const outcome = judged[d.task_id]
      || (limit ? (new Date(h.occurred_at) > new Date(limit) ? "late" : "on_time") : null);
    if (outcome) {
      verdict = `<span class="pill ${outcome === "late" ? "overdue" : "ok"}">${esc(OUTCOME[outcome] || outcome)}</span>`;
    }
    return `<tr><td>${esc(unitName(d.from_unit))}<div class="muted">${esc(d.from_unit)}</div></td>
      <td>${d.to_unit ? `${esc(unitName(d.to_unit))}<div class="muted">${esc(d.to_unit)}</div>` : "Hoàn thành"}</td>
      <td>${esc(stepName(proc, d.step_id))}</td><td>${fmtTime(h.occurred_at)}</td><td>${esc(d.actor || "")}</td>
      <td>${fmtTime(limit)}</td><td>${verdict}</td></tr>`;
  });
}

// --- what an official does on the dossier ------------------------------------------------------

const ACTION_LABEL = {
  claim: "Nhận xử lý", complete: "Hoàn thành bước", obligation: "Ghi nghĩa vụ tài chính",
  forward: "Chuyển cho đồng nghiệp", return: "Trả về bước trước", supplement: "Yêu cầu bổ sung",
  result: "Ghi kết quả", refuse: "Từ chối tiếp nhận (mẫu 03)", stop: "Dừng xử lý (mẫu 05)",
  return_result: "Trả kết quả cho công dân",
};
const HEAD_SIGNS = {
  refuse: "Từ chối tiếp nhận (mẫu 03) do lãnh đạo đơn vị ký.",
  stop: "Dừng xử lý (mẫu 05) do lãnh đạo đơn vị ký.",
  return_result: "Hồ sơ đã xử lý xong: lãnh đạo đơn vị ký trả kết quả cho công dân.",
};
const PAYMENT_STATE = { pending: "Đang chờ thanh toán", paid: "Đã thanh toán", failed: "Không thành công", duplicate: "Thanh toán trùng" };
const MONEY = new Intl.NumberFormat("vi-VN");

function money(amount) { return amount === null || amount === undefined ? "—" : `${MONEY.format(amount)} đồng`; }

function problemTitle(err) {
  // The Vietnamese title of a problem+json answer; never its English detail.
  if (err && err.body && err.body.title) return err.body.title;
  if (err && err.status === 0) return "Không kết nối được máy chủ";
  return err && err.status ? `Lỗi ${err.status}` : "Có lỗi xảy ra";
}

function stepLabel(proc, next) {
  const where = next.unit_code ? ` — ${unitName(next.unit_code)}` : "";
  return next.step_id === null ? `Bộ phận một cửa, trả kết quả${where}` : `${stepName(proc, next.step_id)}${where}`;
}

function waitRows(offers, proc) {
  return offers.waits.map((w) => {
    if (w.party === "agency") {
      return `<li class="wait-agency" data-correlation="${esc(w.correlation_id)}"><strong>Chờ hệ thống ${esc(unitName(w.unit_code))}</strong>
        trả lời bước «${esc(stepName(proc, w.step_id))}» từ ${fmtTime(w.since)}${w.timeout_hours ? ` (tối đa ${esc(w.timeout_hours)} giờ làm việc, quá hạn thì cán bộ xử lý thay)` : ""}.</li>`;
    }
    if (w.what === "payment") {
      return `<li class="wait-payment"><strong>Chờ công dân nộp nghĩa vụ tài chính:</strong> <span id="owed">${money(w.amount_vnd)}</span>
        (trạng thái 6 — Nghĩa vụ tài chính), từ ${fmtTime(w.since)}.</li>`;
    }
    return `<li class="wait-supplement"><strong>Chờ công dân bổ sung:</strong> ${w.missing_documents.map(esc).join(", ")}.</li>`;
  });
}

function actionsCard(data) {
  const offers = data.offers;
  if (!offers) return "";
  const proc = data.routing.procedure_code;
  const tasks = offers.tasks.map((t) => {
    const held = t.claimed_by ? `Đang do <strong>${esc(t.claimed_by)}</strong> xử lý` : "Chờ nhận xử lý";
    const buttons = t.actions.map((a) => `<button type="button" class="act act-${a}${a === "claim" ? "" : " secondary"}"
        data-action="${a}" data-task="${esc(t.task_id)}">${esc(ACTION_LABEL[a])}</button>`).join(" ");
    return `<tr data-task="${esc(t.task_id)}" data-step="${esc(t.step_id)}"><td>${esc(stepName(proc, t.step_id))}</td>
      <td>${esc(unitName(t.unit_code))}</td><td>${held}<div class="muted">từ ${fmtTime(t.since)}</div></td>
      <td class="actions">${buttons || '<span class="muted">Không có thao tác cho bạn.</span>'}</td></tr>`;
  });
  const dossierButtons = offers.dossier.map((a) => `<button type="button" class="act act-${a}${a === "return_result" ? "" : " danger"}"
      data-action="${a}">${esc(ACTION_LABEL[a])}</button>`).join(" ");
  const heads = offers.head_signs.map((a) => `<p class="muted head-signs">${esc(HEAD_SIGNS[a])}</p>`).join("");
  const waits = waitRows(offers, proc);
  return `<div class="card" id="actions"><h2>Xử lý hồ sơ</h2>
    <div id="action-outcome" role="status">${state.outcome ? `<p class="notice">${esc(state.outcome)}</p>` : ""}</div>
    ${waits.length ? `<ul id="waits">${waits.join("")}</ul>` : ""}
    ${offers.tasks.length ? table(["Bước", "Đơn vị", "Người xử lý", "Thao tác"], tasks, 'id="task-actions"') : ""}
    ${dossierButtons ? `<div class="toolbar dossier-actions">${dossierButtons}</div>` : ""}${heads}
    ${!offers.tasks.length && !dossierButtons && !waits.length && !heads ? '<p class="muted">Hồ sơ không còn việc cần xử lý.</p>' : ""}</div>`;
}

function dialogShell(title, body, confirmLabel, irreversible) {
  let dialog = $("#action-dialog");
  if (!dialog) {
    dialog = document.createElement("dialog");
    dialog.id = "action-dialog";
    dialog.setAttribute("aria-labelledby", "action-dialog-title");
    document.body.appendChild(dialog);
  }
  dialog.innerHTML = `<form method="dialog" id="action-form" novalidate>
    <h2 id="action-dialog-title">${esc(title)}</h2>${body}
    ${irreversible ? '<p class="warning">Thao tác này không thể hoàn tác. Bạn có chắc chắn?</p>' : ""}
    <p class="error" id="action-error" role="alert"></p>
    <div class="toolbar dialog-buttons"><button type="submit" id="action-confirm">${esc(confirmLabel)}</button>
    <button type="button" class="secondary" id="action-cancel">Hủy</button></div></form>`;
  $("#action-cancel", dialog).onclick = () => dialog.close();
  dialog.oninput = () => { $("#action-error", dialog).textContent = ""; };
  return dialog;
}

async function dialogBody(action, data, task) {
  const proc = data.routing.procedure_code;
  const offers = data.offers;
  switch (action) {
    case "complete": {
      const next = task.next_steps.map((s) => `<li>${esc(stepLabel(proc, s))}</li>`).join("");
      return `<p>Hoàn thành bước «${esc(stepName(proc, task.step_id))}». Hồ sơ chuyển tiếp đến:</p><ul id="next-steps">${next}</ul>
        <label for="f-note">Ghi chú (không bắt buộc)</label><textarea id="f-note" maxlength="2000"></textarea>`;
    }
    case "obligation": {
      const next = task.next_steps.map((s) => `<li>${esc(stepLabel(proc, s))}</li>`).join("");
      return `<p>Bước «${esc(stepName(proc, task.step_id))}» kết thúc bằng việc xác định nghĩa vụ tài chính; hồ sơ chờ công dân nộp (trạng thái 6), sau đó chuyển đến:</p>
        <ul id="next-steps">${next}</ul>
        <label for="f-amount">Số tiền phải nộp (đồng)</label><input id="f-amount" type="number" min="1" step="1" required inputmode="numeric">`;
    }
    case "forward": {
      const found = await api(`/console/api/units/${encodeURIComponent(task.unit_code)}/officials`);
      const options = found.officials.filter((o) => o.username !== state.me.user).map((o) =>
        `<option value="${esc(o.username)}">${esc(o.full_name)} — ${esc(ROLE[o.role] || o.role)} (${esc(o.username)})</option>`);
      return `<label for="f-to">Chuyển cho</label><select id="f-to" required>${options.join("")}</select>
        <label for="f-note">Ghi chú</label><textarea id="f-note" maxlength="2000">Trình lãnh đạo ký</textarea>`;
    }
    case "return": {
      const options = task.return_targets.map((s) => `<option value="${esc(s)}">${esc(stepName(proc, s))}</option>`);
      if (!options.length) return '<p class="notice">Không có bước trước nào để trả về lúc này.</p>';
      return `<label for="f-target">Trả về bước</label><select id="f-target" required>${options.join("")}</select>
        <label for="f-reason">Lý do</label><textarea id="f-reason" required maxlength="2000"></textarea>`;
    }
    case "supplement": {
      const boxes = offers.documents.map((d, i) => `<div class="check"><input type="checkbox" id="f-doc-${i}" name="doc" value="${esc(d.code)}">
        <label for="f-doc-${i}">${esc(d.name)} <span class="muted">(${esc(d.code)})</span></label></div>`);
      return `<fieldset id="f-docs"><legend>Giấy tờ còn thiếu hoặc chưa hợp lệ (mẫu 02 nêu đủ một lần)</legend>${boxes.join("")}</fieldset>
        <label for="f-reason">Nội dung yêu cầu bổ sung</label><textarea id="f-reason" required maxlength="2000"></textarea>
        <p class="muted">Thời hạn giải quyết tạm dừng cho đến khi công dân bổ sung.</p>`;
    }
    case "result":
      return `<label for="f-papers">Giấy tờ kết quả (mỗi dòng một số giấy tờ)</label><textarea id="f-papers" required maxlength="3000"></textarea>`;
    case "refuse":
      return `<p>Từ chối tiếp nhận hồ sơ ${esc(data.code)} (mẫu 03).</p>
        <label for="f-reasons">Lý do từ chối (mỗi dòng một lý do)</label><textarea id="f-reasons" required maxlength="4000"></textarea>`;
    case "stop":
      return `<p>Dừng xử lý hồ sơ ${esc(data.code)} (mẫu 05).</p>
        <label for="f-reason">Lý do dừng</label><textarea id="f-reason" required maxlength="2000"></textarea>`;
    case "return_result":
      return `<p>Trả kết quả hồ sơ ${esc(data.code)} cho công dân (trạng thái 10 — Đã trả kết quả).</p>`;
    default:
      return "";
  }
}

function lines(value) { return value.split("\n").map((l) => l.trim()).filter(Boolean); }

function actionRequest(action, data, task, dialog) {
  const v = (sel) => ($(sel, dialog) ? $(sel, dialog).value.trim() : "");
  const taskPath = task ? `/v1/tasks/${encodeURIComponent(task.task_id)}` : "";
  const dossierPath = `/v1/dossiers/${encodeURIComponent(data.dossier_id)}`;
  switch (action) {
    case "claim": return [`${taskPath}/claim`, { expected_version: data.offers.version }];
    case "complete": return [`${taskPath}/complete`, { note: v("#f-note") }];
    case "obligation": return [`${taskPath}/obligation`, { amount_vnd: Number(v("#f-amount")) }];
    case "forward": return [`${taskPath}/forward`, { to_user: v("#f-to"), note: v("#f-note") }];
    case "return": return [`${taskPath}/return`, { target_step: v("#f-target"), reason: v("#f-reason") }];
    case "supplement": return [`${taskPath}/supplement`, {
      missing_documents: [...dialog.querySelectorAll('input[name="doc"]:checked')].map((b) => b.value),
      reason: v("#f-reason"),
    }];
    case "result": return [`${taskPath}/result`, { papers: lines(v("#f-papers")) }];
    case "refuse": return [`${dossierPath}/refuse`, { reasons: lines(v("#f-reasons")) }];
    case "stop": return [`${dossierPath}/stop`, { reason: v("#f-reason") }];
    case "return_result": return [`${dossierPath}/return-result`, {}];
    default: throw new Error(action);
  }
}

function validate(action, dialog) {
  if (action === "supplement" && !dialog.querySelector('input[name="doc"]:checked')) return "Hãy chọn ít nhất một giấy tờ cần bổ sung.";
  if (action === "obligation" && !(Number($("#f-amount", dialog).value) > 0)) return "Hãy nhập số tiền lớn hơn 0.";
  for (const el of dialog.querySelectorAll("[required]")) if (!el.value.trim()) return "Hãy điền đủ các ô bắt buộc.";
  return "";
}

function outcomeText(action, result, proc) {
  const status = `${result.status} — ${STATUS[result.status] || ""}`;
  const next = (result.waiting_on || []).map((w) => {
    if (w.party === "citizen") return "công dân";
    if (w.party === "agency") return `hệ thống ${unitName(w.unit_code)}`;
    return w.task_id ? `${unitName(w.unit_code)} (${stepName(proc, w.reason)})` : unitName(w.unit_code);
  });
  return `Đã thực hiện «${ACTION_LABEL[action]}». Trạng thái hồ sơ: ${status}.${next.length ? ` Đang chờ: ${next.join("; ")}.` : ""}`;
}

async function runAction(action, data, task) {
  const proc = data.routing.procedure_code;
  const send = async (dialog) => {
    const [path, body] = actionRequest(action, data, task, dialog);
    const result = await api(path, { method: "POST", body: JSON.stringify(body) });
    state.outcome = outcomeText(action, result, proc);
    toast(state.outcome);
    await viewDossier(data.code);
  };
  if (action === "claim") {
    try { await send(null); } catch (err) {
      // Someone acted first (or the dossier closed): say so, and show it as it is now.
      state.outcome = `Không thực hiện được: ${problemTitle(err)}. Hồ sơ đã được tải lại.`;
      toast(state.outcome);
      await viewDossier(data.code);
    }
    return;
  }
  let body;
  try { body = await dialogBody(action, data, task); } catch (err) { toast(problemTitle(err)); return; }
  const irreversible = action !== "forward";
  const dialog = dialogShell(ACTION_LABEL[action], body, "Xác nhận", irreversible);
  $("#action-form", dialog).onsubmit = async (event) => {
    event.preventDefault();
    const problem = validate(action, dialog);
    if (problem) { $("#action-error", dialog).textContent = problem; return; }
    $("#action-confirm", dialog).disabled = true;
    try {
      await send(dialog);
      dialog.close();
    } catch (err) {
      $("#action-error", dialog).textContent = `Không thực hiện được: ${problemTitle(err)}`;
      $("#action-confirm", dialog).disabled = false;
    }
  };
  dialog.showModal();
  const first = dialog.querySelector("input, select, textarea, button");
  if (first) first.focus();
}

function bindActions(view, data) {
  view.querySelectorAll("button.act").forEach((b) => {
    b.onclick = () => {
      const task = data.offers.tasks.find((t) => t.task_id === b.dataset.task) || null;
      runAction(b.dataset.action, data, task);
    };
  });
}

// --- printable forms fetched with the operator's token -------------------------------------------

async function openForm(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    toast(`Không mở được văn bản: ${problemTitle({ status: response.status, body })}`);
    return;
  }
  const blob = new Blob([await response.text()], { type: "text/html;charset=utf-8" });
  window.open(URL.createObjectURL(blob), "_blank");
}

function formLink(path, label, id) {
  return `<button type="button" class="secondary form-link" id="${id}" data-form="${esc(path)}">${esc(label)}</button>`;
}

// --- the dossier's particulars ----------------------------------------------------------------

function applicantCard(data) {
  const p = data.particulars;
  if (!p) return `<div class="card" id="applicant"><h2>Người nộp hồ sơ</h2><p class="notice">Không đọc được thông tin người nộp: ${esc(data.particulars_error)}</p></div>`;
  const a = p.applicant;
  const person = a ? `<dl class="facts">
      <dt>Họ và tên</dt><dd id="applicant-name">${esc(a.full_name)}</dd>
      <dt>Số định danh</dt><dd id="applicant-id">${esc(a.citizen_id_masked)}</dd>
      <dt>Điện thoại</dt><dd>${esc(a.phone)}</dd>
      <dt>Thư điện tử</dt><dd>${esc(a.email || "—")}</dd>
      <dt>Địa chỉ</dt><dd>${esc(a.address || "—")}</dd></dl>`
    : '<p class="muted">Thông tin cá nhân đã được ẩn danh theo thời hạn lưu trữ.</p>';
  return `<div class="card" id="applicant"><h2>Người nộp hồ sơ</h2>${person}
    <h3>Nội dung yêu cầu</h3><p id="dossier-summary">${esc(p.summary || "—")}</p></div>`;
}

function subprocedureCard(data) {
  const sub = data.subprocedures;
  if (!sub) return "";
  const items = sub.shown.map((s) => `<li>${esc(s.name)} <span class="muted">(${esc(s.code)})</span></li>`).join("");
  return `<div class="card" id="subprocedures"><h2>Thủ tục thành phần công dân đã chọn</h2>
    ${items ? `<ul>${items}</ul>` : '<p class="muted">Không có thủ tục thành phần nào do đơn vị bạn giải quyết.</p>'}
    ${sub.all_visible ? "" : '<p class="muted">Chỉ hiển thị các thủ tục thành phần do đơn vị bạn giải quyết.</p>'}</div>`;
}

function documentsCard(data) {
  if (data.documents === null) return `<div class="card" id="documents-card"><h2>Thành phần hồ sơ</h2><p class="notice">Không đọc được giấy tờ: ${esc(data.documents_error)}</p></div>`;
  const rows = data.documents.map((d) => {
    let where = '<span class="muted">—</span>';
    if (d.storage_ref_withheld) where = '<span class="muted">Giấy tờ tùy thân: chỉ cổng đã nộp được xem</span>';
    else if (d.storage_ref && /^https?:\/\//.test(d.storage_ref)) where = `<a href="${esc(d.storage_ref)}" target="_blank" rel="noopener">Mở tệp</a>`;
    else if (d.storage_ref) where = `<a href="${esc(d.storage_ref)}" class="storage-ref">${esc(d.storage_ref)}</a>`;
    return `<tr><td>${esc(d.name)}${d.supplement ? ' <span class="pill soon">Bổ sung</span>' : ""}</td><td>${esc(d.type_code)}</td><td>${where}</td></tr>`;
  });
  return `<div class="card" id="documents-card"><h2>Thành phần hồ sơ</h2>${table(["Giấy tờ", "Mã", "Tệp lưu trữ"], rows, 'id="documents"')}</div>`;
}

function feesCard(data) {
  const procFees = (data.procedure && data.procedure.fees) || [];
  const paid = (data.particulars && data.particulars.fees) || [];
  const feeRows = procFees.map((f) => `<tr><td>${esc(f.name)}</td><td>${esc(f.code)}</td><td class="num">${money(f.amount_vnd)}</td></tr>`);
  const paidRows = paid.map((f) => `<tr><td>${esc(f.code)}</td><td class="num">${money(f.amount_vnd)}</td></tr>`);
  const payments = data.payments === null ? `<p class="notice">${esc(data.payments_error)}</p>`
    : table(["Mã giao dịch", "Số tiền", "Trạng thái", "Lúc", "Biên lai"], data.payments.map((p) => `<tr data-txn="${esc(p.txn_ref)}">
      <td>${esc(p.txn_ref)}</td><td class="num">${money(p.amount_vnd)}</td><td class="payment-state">${esc(PAYMENT_STATE[p.state] || p.state_name || p.state)}</td>
      <td>${fmtTime(p.settled_at || p.created_at)}</td>
      <td>${p.receipt_no ? formLink(`/console/api/dossiers/${encodeURIComponent(data.code)}/payments/${encodeURIComponent(p.txn_ref)}/receipt.html`, `Biên lai ${p.receipt_no}`, `receipt-${p.txn_ref}`) : "—"}</td></tr>`), 'id="payments"');
  return `<div class="card" id="fees"><h2>Phí, lệ phí và nghĩa vụ tài chính</h2>
    <h3>Theo thủ tục</h3>${table(["Khoản", "Mã", { label: "Số tiền", num: true }], feeRows, 'id="procedure-fees"')}
    <h3>Đã nộp khi tiếp nhận</h3>${table(["Khoản", { label: "Số tiền", num: true }], paidRows, 'id="paid-fees"')}
    <h3>Thanh toán nghĩa vụ tài chính</h3>${payments}</div>`;
}

function apologiesCard(data) {
  const letters = data.apologies || [];
  const rows = letters.map((l) => `<tr><td>${esc(unitName(l.responsible_unit))}</td><td>${esc(l.reason)}</td>
    <td>${fmtTime(l.old_appointment_at)}</td><td>${fmtTime(l.new_appointment_at)}</td>
    <td>${formLink(`/console/api/dossiers/${encodeURIComponent(data.code)}/apologies/${encodeURIComponent(l.id)}.html`, "Xem, in mẫu 04", `apology-${l.id}`)}</td></tr>`);
  if (data.apologies === null) return `<div class="card" id="apologies-card"><h2>Thư xin lỗi (mẫu 04)</h2><p class="notice">${esc(data.apologies_error)}</p></div>`;
  return `<div class="card" id="apologies-card"><h2>Thư xin lỗi và hẹn lại (mẫu 04)</h2>
    ${table(["Đơn vị", "Lý do", "Hẹn cũ", "Hẹn mới", "Văn bản"], rows, 'id="apologies"')}</div>`;
}

async function viewDossier(code) {
  // A later load (after an action, or another click) wins over one still under way.
  const seq = (viewDossier.seq = (viewDossier.seq || 0) + 1);
  const data = await api(`/console/api/dossiers/${encodeURIComponent(code)}`);
  if (seq !== viewDossier.seq) return;
  const intake = data.intake || {};
  const proc = intake.procedure_code || (data.routing && data.routing.procedure_code);
  const timeline = (intake.timeline || []).map((e) => `<tr>
      <td>${fmtTime(e.occurred_at)}</td><td>${esc(e.source)}</td>
      <td>${esc(EVENT[e.event_type] || e.event_type)}<div class="muted">${esc(e.event_type)}</div></td>
      <td>${summary(e.details, proc)}</td></tr>`);
  const steps = (data.steps || []).map((s) => `<tr>
      <td>${esc(stepName(proc, s.step_id))}</td><td>${esc(unitName(s.unit_code))}</td><td>${esc(TASK_STATUS[s.status] || s.status)}</td>
      <td>${fmtTime(s.assigned_at)}</td><td class="num">${esc(s.allotment_hours)}</td><td>${fmtTime(s.due_at)}</td></tr>`);
  let deadlines;
  if (data.deadlines && Array.isArray(data.deadlines.deadlines)) deadlines = slaDeadlines(data.deadlines, intake);
  else if (Array.isArray(intake.deadlines) && intake.deadlines.length) {
    deadlines = `<dl class="facts"><dt>Ngày hẹn trả</dt><dd>${fmtTime(intake.appointment_at)}</dd></dl>
      ${table(["Loại", "Đơn vị", "Nhiệm vụ", "Bắt đầu", "Hạn", "Trạng thái"], intake.deadlines.map((d) => `<tr>
        <td>${d.kind === "dossier" ? "Cả hồ sơ" : "Bước"}</td><td>${esc(unitName(d.unit_code))}</td><td>${esc(d.task_id ? stepName(proc, d.task_id.split(":")[1]) : "—")}</td>
        <td>${fmtTime(d.starts_at)}</td><td>${fmtTime(d.due_at)}</td><td>${esc(d.state || d.outcome || "")}</td></tr>`), 'id="deadlines"')}`;
  } else {
    deadlines = `<p class="muted">Dịch vụ SLA chưa cung cấp danh sách thời hạn (${esc(data.deadlines_error)});
      hiển thị hạn của từng bước theo luồng xử lý và ngày hẹn trả.</p>
      <dl class="facts"><dt>Ngày hẹn trả</dt><dd>${fmtTime(intake.appointment_at)}</dd></dl>
      ${table(["Bước", "Đơn vị", "Trạng thái", "Giao lúc", { label: "Thời gian (giờ LV)", num: true }, "Hạn bước"], steps, 'id="step-deadlines"')}`;
  }
  const messages = data.messages === null
    ? `<p class="notice">${esc(data.messages_error)}</p>`
    : table(["Lúc", "Kênh", "Mẫu", "Nhà cung cấp", "Trạng thái", "Lịch sử"], data.messages.map((m) => `<tr>
      <td>${fmtTime(m.created_at)}</td><td>${esc(messageChannel(m.channel))}</td><td>${esc(m.template_id)}@${esc(m.template_version)}</td>
      <td>${esc(m.provider || "—")}</td><td>${esc(messageStatus(m.status))}</td>
      <td>${(m.history || []).map((h) => `${esc(h.status)} <span class="muted">${fmtTime(h.at)}</span>`).join("<br>")}</td></tr>`), 'id="messages"');
  const traces = (data.traces || []).map((t, i) => `<option value="${esc(t.trace_id)}">${i === 0 ? "Nộp hồ sơ" : `Thao tác ${i}`} · ${fmtTime(t.started_at)} · ${esc(t.trace_id)}</option>`);
  const receiptLink = data.routing ? formLink(`/console/api/dossiers/${encodeURIComponent(data.code)}/receipt.html`, "Phiếu tiếp nhận và hẹn trả kết quả (mẫu 01)", "receipt-link") : "";
  const view = setView(`
    <div class="card" id="dossier-head"><h1>Hồ sơ <code id="dossier-code">${esc(data.code)}</code></h1>
      ${data.intake ? `<dl class="facts">
        <dt>Trạng thái</dt><dd id="dossier-status">${esc(intake.status)} — ${esc(STATUS[intake.status] || "")}</dd>
        <dt>Thủ tục</dt><dd id="dossier-procedure">${esc(procedureName(intake.procedure_code))} <span class="muted">(${esc(intake.procedure_code)})</span></dd>
        <dt>Đơn vị tiếp nhận</dt><dd>${esc(unitName(intake.receiving_unit))}</dd>
        <dt>Đơn vị đang xử lý</dt><dd id="current-unit">${intake.current_unit ? esc(unitName(intake.current_unit)) : "—"}</dd>
        <dt>Tiếp nhận lúc</dt><dd>${fmtTime(intake.received_at)}</dd>
        <dt>Ngày hẹn trả</dt><dd>${fmtTime(intake.appointment_at)}</dd></dl>`
        : `<p class="notice">Không đọc được hồ sơ từ dịch vụ tiếp nhận: ${esc(data.intake_error)}</p>`}
      <div class="toolbar forms">${receiptLink}</div>
    </div>
    ${actionsCard(data)}
    <div class="grid">${applicantCard(data)}${subprocedureCard(data)}</div>
    ${documentsCard(data)}
    ${feesCard(data)}
    <div class="card" id="form06"><h2>Phiếu kiểm soát quá trình giải quyết hồ sơ (mẫu 06)</h2>
      <div class="print-only form06-head"><p>Mã hồ sơ: <strong>${esc(data.code)}</strong> · ${esc(procedureName(proc))}</p>
        <p>Người nộp: ${esc((data.particulars && data.particulars.applicant && data.particulars.applicant.full_name) || "")} · Ngày hẹn trả: ${fmtTime(intake.appointment_at)}</p></div>
      <div class="toolbar no-print"><button type="button" class="secondary" id="print-06">In phiếu kiểm soát (mẫu 06)</button></div>
      ${table(["Bàn giao từ", "Đến", "Bước", "Thời điểm", "Người giao", "Hạn bước", "Kết quả"], handoffRows(data), 'id="handoffs"')}</div>
    ${apologiesCard(data)}
    <div class="card"><h2>Dòng thời gian</h2>${table(["Thời điểm", "Dịch vụ", "Sự kiện", "Chi tiết"], timeline, 'id="timeline"')}</div>
    <div class="card"><h2>Thời hạn</h2>${deadlines}</div>
    <div class="card"><h2>Thông báo cho công dân</h2>${messages}</div>
    <div class="card"><h2>Trace</h2>
      ${traces.length ? `<div class="toolbar"><label for="trace-pick" class="sr-only">Trace</label><select id="trace-pick">${traces.join("")}</select></div><div id="trace-box"></div>`
        : '<p class="muted">Chưa có span nào ghi nhận hồ sơ này.</p>'}</div>`);
  state.outcome = null;
  bindActions(view, data);
  view.querySelectorAll("button.form-link").forEach((b) => { b.onclick = () => openForm(b.dataset.form); });
  $("#print-06", view).onclick = () => {
    document.body.classList.add("print-form06");
    window.print();
    document.body.classList.remove("print-form06");
  };
  const pick = $("#trace-pick", view);
  if (pick) {
    pick.onchange = () => showTrace(pick.value, $("#trace-box", view));
    await showTrace(pick.value, $("#trace-box", view));
  }
}

const OUTCOME = { early: "Sớm hạn", on_time: "Đúng hạn", late: "Trễ hạn" };
const DL_STATE = { open: "Đang tính", paused: "Tạm dừng (chờ bổ sung)", closed: "Đã đóng" };

function slaDeadlines(sla, intake) {
  // No urgency once the dossier has ended; no verdict at all for a withdrawn, refused or
  // stopped one (deadlineVerdict, console.js).
  const outcome = (o) => {
    const v = deadlineVerdict(intake.status, o);
    return v ? `<span class="pill ${v.css}">${esc(v.label)}</span>` : "";
  };
  const running = !ENDED.has(Number(intake.status));
  const rows = sla.deadlines.map((d) => {
    const late = running && d.state !== "closed" && new Date(d.due_at) < new Date();
    return `<tr class="${late ? "urg-overdue" : ""}"><td>${d.kind === "dossier" ? "Cả hồ sơ" : "Bước"}</td>
      <td>${esc(d.step_name || (d.task_id ? stepName(intake.procedure_code, d.task_id.split(":")[1]) : "—"))}</td><td>${esc(unitName(d.unit_code))}</td>
      <td>${fmtTime(d.starts_at)}</td><td class="num">${esc(d.allotment_hours)}</td><td>${fmtTime(d.due_at)}</td>
      <td>${esc(DL_STATE[d.state] || d.state)}${late ? ' <span class="pill overdue">Quá hạn</span>' : ""}</td><td>${outcome(d.outcome)}</td></tr>`;
  });
  const ext = (sla.extensions || []).map((e) => `<tr><td>${fmtTime(e.old_appointment_at)}</td><td>${fmtTime(e.new_appointment_at)}</td>
      <td>${formLink(`/console/api/dossiers/${encodeURIComponent(intake.code)}/apologies/${encodeURIComponent(e.letter_id)}.html`, "Xem, in mẫu 04", `extension-${e.letter_id}`)}</td></tr>`);
  const d = sla.dossier || {};
  return `<dl class="facts"><dt>Ngày hẹn trả</dt><dd>${fmtTime(intake.appointment_at)}</dd>
      <dt>Số lần yêu cầu bổ sung</dt><dd>${esc(d.supplement_count ?? 0)}</dd>
      ${d.outcome ? `<dt>Kết quả</dt><dd>${outcome(d.outcome)}</dd>` : ""}</dl>
    ${table(["Loại", "Bước", "Đơn vị", "Bắt đầu", { label: "Giờ làm việc", num: true }, "Hạn", "Trạng thái", "Kết quả"], rows, 'id="deadlines"')}
    ${ext.length ? `<h3>Gia hạn (mẫu 04)</h3>${table(["Hẹn cũ", "Hẹn mới", "Thư xin lỗi"], ext)}` : ""}`;
}

// --- trace waterfall -------------------------------------------------------------------------

async function showTrace(traceId, box) {
  box.innerHTML = '<p class="muted">Đang tải…</p>';
  try {
    const data = await api(`/console/api/traces/${encodeURIComponent(traceId)}`);
    box.innerHTML = waterfall(data);
    box.querySelectorAll(".wf-row").forEach((row) => {
      row.onclick = () => {
        const span = data.spans[Number(row.dataset.index)];
        $(".span-detail", box).innerHTML = `<h3>${esc(span.service)} · ${esc(span.name)}</h3>
          <pre class="attrs">${esc(JSON.stringify({ kind: span.kind, status: span.status, span_id: span.span_id,
            parent_span_id: span.parent_span_id, attributes: span.attributes }, null, 2))}</pre>`;
      };
    });
  } catch (err) {
    box.innerHTML = `<p class="notice">Không tải được trace: ${esc(err.message)}</p>`;
  }
}

function waterfall(data) {
  const spans = data.spans;
  if (!spans.length) return '<p class="muted">Trace chưa có span.</p>';
  const start = Math.min(...spans.map((s) => new Date(s.start_time).getTime()));
  const end = Math.max(...spans.map((s) => new Date(s.end_time).getTime()));
  const total = Math.max(end - start, 1);
  const rows = spans.map((s, i) => {
    const left = ((new Date(s.start_time).getTime() - start) / total) * 100;
    const width = Math.max(((new Date(s.end_time) - new Date(s.start_time)) / total) * 100, 0.3);
    return `<div class="wf-row" data-index="${i}" data-service="${esc(s.service)}" data-kind="${esc(s.kind)}">
      <div class="wf-label" style="padding-left:${6 + s.depth * 14}px" title="${esc(s.name)}">
        <span class="tag svc-${esc(s.service)}"></span>${esc(s.service)} · ${esc(s.name)}</div>
      <div class="wf-track"><div class="wf-bar svc-${esc(s.service)}" style="left:${left.toFixed(2)}%;width:${width.toFixed(2)}%"></div></div>
      <div class="wf-dur">${(s.duration_ms ?? 0).toFixed(1)} ms</div></div>`;
  });
  const legend = ["intake", "routing", "sla", "notify"].map((s) => `<span><span class="tag svc-${s}"></span>${s}</span>`).join(" ");
  const missing = data.unreachable && data.unreachable.length
    ? `<p class="notice">Không đọc được span của: ${esc(data.unreachable.join(", "))}</p>` : "";
  return `${missing}<div class="legend">${legend}<span class="muted">${spans.length} span · ${total} ms</span></div>
    <div class="waterfall" id="waterfall">${rows.join("")}</div><div class="span-detail muted">Bấm vào một span để xem thuộc tính.</div>`;
}

async function viewTrace(traceId) {
  const view = setView(`<div class="card"><h1>Trace <code>${esc(traceId)}</code></h1><div id="trace-box"></div></div>`);
  await showTrace(traceId, $("#trace-box", view));
}
