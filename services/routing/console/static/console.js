/* Bảng điều hành một cửa liên thông: plain JavaScript, no build step, no network but ours. */
"use strict";

const STATUS = {
  1: "Mới đăng ký", 2: "Được tiếp nhận", 3: "Không được tiếp nhận", 4: "Đang xử lý",
  5: "Yêu cầu bổ sung", 6: "Nghĩa vụ tài chính", 7: "Công dân yêu cầu rút",
  8: "Dừng xử lý", 9: "Đã xử lý xong", 10: "Đã trả kết quả",
};
const TASK_STATUS = { open: "Chờ nhận", claimed: "Đang xử lý", waiting: "Đang chờ", done: "Xong" };
const ROLE = { official: "Cán bộ", unit_head: "Lãnh đạo đơn vị", province_supervisor: "Giám sát cấp tỉnh" };
const URGENCY = {
  overdue: "Quá hạn", critical: "Dưới 1 ngày làm việc", soon: "Dưới 3 ngày làm việc",
  ok: "Còn hạn", none: "Không có hạn",
};
const EVENT = {
  "dossier.received": "Tiếp nhận hồ sơ",
  "step.assigned": "Giao bước xử lý",
  "step.handed_off": "Chuyển bước (phiếu 06)",
  "step.escalated": "Chuyển cấp",
  "step.overdue": "Bước quá hạn",
  "deadline.opened": "Mở thời hạn",
  "deadline.due_soon": "Sắp đến hạn",
  "dossier.overdue": "Hồ sơ quá hạn",
  "dossier.supplement_requested": "Yêu cầu bổ sung (mẫu 02)",
  "dossier.supplement_submitted": "Đã bổ sung",
  "dossier.obligation_requested": "Nghĩa vụ tài chính",
  "dossier.obligation_paid": "Đã nộp nghĩa vụ tài chính",
  "dossier.processing_resumed": "Tiếp tục xử lý",
  "dossier.result_ready": "Đã xử lý xong",
  "dossier.returned": "Đã trả kết quả",
  "dossier.refused": "Không tiếp nhận (mẫu 03)",
  "dossier.stopped": "Dừng xử lý (mẫu 05)",
  "dossier.withdrawn": "Công dân rút hồ sơ",
  "notification.status_changed": "Thông báo công dân",
  "apology.issued": "Thư xin lỗi (mẫu 04)",
};

const state = { token: sessionStorage.getItem("token"), me: null };
const $ = (sel, root = document) => root.querySelector(sel);

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return esc(iso);
  return d.toLocaleString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh", hour12: false });
}

function fmtHours(h) {
  if (h === null || h === undefined) return "—";
  const abs = Math.abs(h);
  const days = Math.floor(abs / 8);
  const hours = Math.round((abs - days * 8) * 10) / 10;
  const text = days ? `${days} ngày ${hours} giờ` : `${hours} giờ`;
  return h < 0 ? `trễ ${text}` : `còn ${text}`;
}

function toast(text) {
  const el = $("#toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (response.status === 401 && state.token) {
    logout();
    throw new ApiError(401, body);
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function logout() {
  state.token = null;
  state.me = null;
  sessionStorage.removeItem("token");
  location.hash = "#/login";
  render();
}

async function login(event) {
  event.preventDefault();
  $("#login-error").textContent = "";
  try {
    const body = await api("/v1/auth/login", {
      method: "POST",
      body: JSON.stringify({ username: $("#username").value.trim(), password: $("#password").value }),
    });
    state.token = body.access_token;
    sessionStorage.setItem("token", state.token);
    sessionStorage.setItem("full_name", body.full_name);
    location.hash = "#/inbox";
    await render();
  } catch (err) {
    $("#login-error").textContent = err.status === 401 ? "Sai tên đăng nhập hoặc mật khẩu." : `Lỗi: ${err.message}`;
  }
}

function setView(html) {
  const view = $("#view");
  view.innerHTML = html;
  view.hidden = false;
  return view;
}

function table(headers, rows, attrs = "") {
  const head = headers.map((h) => `<th${h.num ? ' class="num"' : ""}>${esc(h.label ?? h)}</th>`).join("");
  return `<table ${attrs}><thead><tr>${head}</tr></thead><tbody>${rows.join("") ||
    `<tr><td colspan="${headers.length}" class="muted">Không có dữ liệu.</td></tr>`}</tbody></table>`;
}

function dossierLink(code) {
  return `<a href="#/dossier/${encodeURIComponent(code)}">${esc(code)}</a>`;
}

// --- inbox -----------------------------------------------------------------------------------

async function viewInbox(params) {
  const unit = params.get("unit") || state.me.unit_code;
  let units = [state.me.unit_code];
  if (state.me.may.all_units) units = (await api("/console/api/units")).units;
  const data = await api(`/console/api/inbox?unit=${encodeURIComponent(unit)}`);
  const picker = units.length > 1
    ? `<label for="unit-pick">Đơn vị</label><select id="unit-pick">${units.map((u) =>
      `<option${u === unit ? " selected" : ""}>${esc(u)}</option>`).join("")}</select>` : "";
  const rows = data.items.map((t) => `
    <tr class="urg-${esc(t.urgency)}" data-task="${esc(t.task_id)}" data-dossier="${esc(t.dossier_code)}">
      <td>${dossierLink(t.dossier_code)}<div class="muted">${esc(t.procedure_code)}</div></td>
      <td>${esc(t.step_id)}</td>
      <td>${esc(TASK_STATUS[t.status] || t.status)}${t.claimed_by ? `<div class="muted">${esc(t.claimed_by)}</div>` : ""}</td>
      <td>${fmtTime(t.assigned_at)}</td>
      <td>${fmtTime(t.due_at)}</td>
      <td><span class="pill ${esc(t.urgency)}" title="${esc(URGENCY[t.urgency])}">${esc(fmtHours(t.remaining_hours))}</span></td>
      <td class="actions">
        ${t.status === "open" ? `<button type="button" class="claim" data-version="${t.dossier_version}">Nhận xử lý</button>` : ""}
        ${t.status === "claimed" ? `<button type="button" class="complete">Hoàn thành bước</button>` : ""}
      </td>
    </tr>`);
  const view = setView(`
    <div class="card">
      <h1>Hộp hồ sơ đơn vị <code id="inbox-unit">${esc(data.unit_code)}</code></h1>
      <div class="toolbar">${picker}<button type="button" class="secondary" id="refresh">Làm mới</button></div>
      <div class="legend">${["overdue", "critical", "soon", "ok"].map((u) =>
        `<span><span class="pill ${u}">${esc(URGENCY[u])}</span></span>`).join("")}
        <span class="muted">Thời gian còn lại tính theo giờ làm việc (8 giờ = 1 ngày).</span></div>
      ${table(["Hồ sơ", "Bước", "Trạng thái", "Nhận lúc", "Hạn bước", "Thời gian còn lại", ""], rows, 'id="inbox-table"')}
    </div>`);
  $("#refresh", view).onclick = () => render();
  const pick = $("#unit-pick", view);
  if (pick) pick.onchange = () => { location.hash = `#/inbox?unit=${encodeURIComponent(pick.value)}`; };
  view.querySelectorAll("button.claim").forEach((b) => {
    b.onclick = () => act(b, "claim", { expected_version: Number(b.dataset.version) });
  });
  view.querySelectorAll("button.complete").forEach((b) => {
    b.onclick = () => act(b, "complete", { note: "Hoàn thành tại bảng điều hành" });
  });
}

async function act(button, action, body) {
  const row = button.closest("tr");
  button.disabled = true;
  try {
    await api(`/v1/tasks/${encodeURIComponent(row.dataset.task)}/${action}`, {
      method: "POST", body: JSON.stringify(body),
    });
    toast(action === "claim" ? `Đã nhận xử lý hồ sơ ${row.dataset.dossier}` : `Đã hoàn thành bước của hồ sơ ${row.dataset.dossier}`);
  } catch (err) {
    toast(`Không thực hiện được: ${err.message}`);
  }
  await render();
}

// --- overdue ---------------------------------------------------------------------------------

async function viewOverdue() {
  const data = await api("/console/api/overdue");
  const rows = data.items.map((t) => `
    <tr class="urg-overdue">
      <td>${dossierLink(t.dossier_code)}<div class="muted">${esc(t.procedure_code)}</div></td>
      <td>${esc(t.step_id)}</td>
      <td><strong>${esc(t.responsible_unit)}</strong></td>
      <td>${fmtTime(t.due_at)}</td>
      <td class="num">${esc(Math.round(t.late_hours * 10) / 10)} giờ</td>
      <td>${esc(TASK_STATUS[t.status] || t.status)}</td>
    </tr>`);
  setView(`<div class="card"><h1>Hồ sơ quá hạn</h1>
    <p class="muted">Mỗi bước quá thời hạn của chính nó; đơn vị chịu trách nhiệm là đơn vị đang giữ bước.</p>
    ${table(["Hồ sơ", "Bước", "Đơn vị chịu trách nhiệm", "Hạn bước", { label: "Trễ (giờ thực)", num: true }, "Trạng thái"], rows, 'id="overdue-table"')}
  </div>`);
}

// --- dossiers --------------------------------------------------------------------------------

async function viewDossiers(params) {
  const q = params.get("q") || "";
  const data = await api(`/console/api/dossiers?q=${encodeURIComponent(q)}`);
  const rows = data.items.map((d) => `<tr>
      <td>${dossierLink(d.dossier_code)}</td><td>${esc(d.procedure_code)}</td>
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

function summary(details) {
  const d = details || {};
  const parts = [];
  if (d.from_unit || d.to_unit) parts.push(`${esc(d.from_unit || "?")} → ${esc(d.to_unit || "kết thúc")}`);
  else if (d.unit_code) parts.push(`đơn vị ${esc(d.unit_code)}`);
  if (d.step_name || d.step_id) parts.push(`bước ${esc(d.step_name || d.step_id)}`);
  if (d.due_at) parts.push(`hạn ${fmtTime(d.due_at)}`);
  if (d.channel && d.status) parts.push(`${esc(d.channel)}: ${esc(d.status)}`);
  else if (d.status) parts.push(esc(STATUS[d.status] || d.status));
  return parts.join(" · ");
}

function handoffRows(data) {
  const due = {};
  (data.steps || []).forEach((s) => { due[s.task_id] = s.due_at; });
  return (data.handoffs || []).map((h) => {
    const d = h.details || {};
    const limit = due[d.task_id];
    let verdict = '<span class="pill muted">—</span>';
    if (limit) {
      const diff = new Date(h.occurred_at) - new Date(limit);
      verdict = diff > 0 ? '<span class="pill overdue">Trễ hạn</span>'
        : diff < -3600 * 1000 ? '<span class="pill ok">Sớm hạn</span>' : '<span class="pill soon">Đúng hạn</span>';
    }
    return `<tr><td>${esc(d.from_unit)}</td><td>${esc(d.to_unit || "Hoàn thành")}</td>
      <td>${esc(d.step_id)}</td><td>${fmtTime(h.occurred_at)}</td><td>${esc(d.actor || "")}</td><td>${verdict}</td></tr>`;
  });
}

async function viewDossier(code) {
  const data = await api(`/console/api/dossiers/${encodeURIComponent(code)}`);
  const intake = data.intake || {};
  const timeline = (intake.timeline || []).map((e) => `<tr>
      <td>${fmtTime(e.occurred_at)}</td><td>${esc(e.source)}</td>
      <td>${esc(EVENT[e.event_type] || e.event_type)}<div class="muted">${esc(e.event_type)}</div></td>
      <td>${summary(e.details)}</td></tr>`);
  const steps = (data.steps || []).map((s) => `<tr>
      <td>${esc(s.step_id)}</td><td>${esc(s.unit_code)}</td><td>${esc(TASK_STATUS[s.status] || s.status)}</td>
      <td>${fmtTime(s.assigned_at)}</td><td class="num">${esc(s.allotment_hours)}</td><td>${fmtTime(s.due_at)}</td></tr>`);
  let deadlines;
  if (data.deadlines && Array.isArray(data.deadlines.deadlines)) deadlines = slaDeadlines(data.deadlines, intake);
  else if (Array.isArray(intake.deadlines) && intake.deadlines.length) {
    deadlines = `<dl class="facts"><dt>Ngày hẹn trả</dt><dd>${fmtTime(intake.appointment_at)}</dd></dl>
      ${table(["Loại", "Đơn vị", "Nhiệm vụ", "Bắt đầu", "Hạn", "Trạng thái"], intake.deadlines.map((d) => `<tr>
        <td>${d.kind === "dossier" ? "Cả hồ sơ" : "Bước"}</td><td>${esc(d.unit_code)}</td><td>${esc(d.task_id ? d.task_id.split(":")[1] : "—")}</td>
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
      <td>${fmtTime(m.created_at)}</td><td>${esc(m.channel)}</td><td>${esc(m.template_id)}@${esc(m.template_version)}</td>
      <td>${esc(m.provider || "—")}</td><td>${esc(m.status)}</td>
      <td>${(m.history || []).map((h) => `${esc(h.status)} <span class="muted">${fmtTime(h.at)}</span>`).join("<br>")}</td></tr>`), 'id="messages"');
  const traces = (data.traces || []).map((t, i) => `<option value="${esc(t.trace_id)}">${i === 0 ? "Nộp hồ sơ" : `Thao tác ${i}`} · ${fmtTime(t.started_at)} · ${esc(t.trace_id)}</option>`);
  const view = setView(`
    <div class="card"><h1>Hồ sơ <code id="dossier-code">${esc(data.code)}</code></h1>
      ${data.intake ? `<dl class="facts">
        <dt>Trạng thái</dt><dd id="dossier-status">${esc(intake.status)} — ${esc(STATUS[intake.status] || "")}</dd>
        <dt>Thủ tục</dt><dd>${esc(intake.procedure_code)}</dd>
        <dt>Đơn vị tiếp nhận</dt><dd>${esc(intake.receiving_unit)}</dd>
        <dt>Đơn vị đang xử lý</dt><dd id="current-unit">${esc(intake.current_unit || "—")}</dd>
        <dt>Tiếp nhận lúc</dt><dd>${fmtTime(intake.received_at)}</dd>
        <dt>Ngày hẹn trả</dt><dd>${fmtTime(intake.appointment_at)}</dd></dl>`
        : `<p class="notice">Không đọc được hồ sơ từ dịch vụ tiếp nhận: ${esc(data.intake_error)}</p>`}
    </div>
    <div class="card"><h2>Phiếu kiểm soát quá trình giải quyết (mẫu 06)</h2>
      ${table(["Bàn giao từ", "Đến", "Bước", "Thời điểm", "Người giao", "Kết quả"], handoffRows(data), 'id="handoffs"')}</div>
    <div class="card"><h2>Dòng thời gian</h2>${table(["Thời điểm", "Dịch vụ", "Sự kiện", "Chi tiết"], timeline, 'id="timeline"')}</div>
    <div class="card"><h2>Thời hạn</h2>${deadlines}</div>
    <div class="card"><h2>Thông báo cho công dân</h2>${messages}</div>
    <div class="card"><h2>Trace</h2>
      ${traces.length ? `<div class="toolbar"><select id="trace-pick">${traces.join("")}</select></div><div id="trace-box"></div>`
        : '<p class="muted">Chưa có span nào ghi nhận hồ sơ này.</p>'}</div>`);
  const pick = $("#trace-pick", view);
  if (pick) {
    pick.onchange = () => showTrace(pick.value, $("#trace-box", view));
    await showTrace(pick.value, $("#trace-box", view));
  }
}

const OUTCOME = { early: "Sớm hạn", on_time: "Đúng hạn", late: "Trễ hạn" };
const DL_STATE = { open: "Đang tính", paused: "Tạm dừng (chờ bổ sung)", closed: "Đã đóng" };

function slaDeadlines(sla, intake) {
  const outcome = (o) => (o ? `<span class="pill ${o === "late" ? "overdue" : "ok"}">${esc(OUTCOME[o] || o)}</span>` : "");
  const rows = sla.deadlines.map((d) => {
    const late = d.state !== "closed" && new Date(d.due_at) < new Date();
    return `<tr class="${late ? "urg-overdue" : ""}"><td>${d.kind === "dossier" ? "Cả hồ sơ" : "Bước"}</td>
      <td>${esc(d.step_name || (d.task_id ? d.task_id.split(":")[1] : "—"))}</td><td>${esc(d.unit_code)}</td>
      <td>${fmtTime(d.starts_at)}</td><td class="num">${esc(d.allotment_hours)}</td><td>${fmtTime(d.due_at)}</td>
      <td>${esc(DL_STATE[d.state] || d.state)}${late ? ' <span class="pill overdue">Quá hạn</span>' : ""}</td><td>${outcome(d.outcome)}</td></tr>`;
  });
  const ext = (sla.extensions || []).map((e) => `<tr><td>${fmtTime(e.old_appointment_at)}</td><td>${fmtTime(e.new_appointment_at)}</td>
      <td><a href="/v1/apologies/${esc(e.letter_id)}.html">${esc(e.letter_id)}</a></td></tr>`);
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

// --- statistics ------------------------------------------------------------------------------

function genericTables(value) {
  // Render whatever SLA answers: lists of objects become tables, scalars a fact list.
  if (Array.isArray(value)) {
    if (!value.length) return '<p class="muted">Không có dữ liệu.</p>';
    if (typeof value[0] !== "object") return esc(value.join(", "));
    const keys = [...new Set(value.flatMap((r) => Object.keys(r)))];
    return table(keys, value.map((r) => `<tr>${keys.map((k) => `<td>${typeof r[k] === "object" && r[k] !== null ? esc(JSON.stringify(r[k])) : esc(r[k])}</td>`).join("")}</tr>`));
  }
  if (value && typeof value === "object") {
    const facts = [];
    const nested = [];
    for (const [k, v] of Object.entries(value)) {
      if (v && typeof v === "object") nested.push(`<h3>${esc(k)}</h3>${genericTables(v)}`);
      else facts.push(`<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`);
    }
    return `${facts.length ? `<dl class="facts">${facts.join("")}</dl>` : ""}${nested.join("")}`;
  }
  return esc(value);
}

function barChart(items, label, value, max = 100, suffix = "%") {
  const width = Math.max(items.length * 84 + 40, 240);
  const height = 180;
  const bars = items.map((it, i) => {
    const v = value(it);
    const h = v === null ? 0 : (v / max) * 120;
    const colour = v === null ? "#b0bec5" : v >= 95 ? "#2e7d32" : v >= 80 ? "#f9a825" : "#c62828";
    return `<g transform="translate(${30 + i * 84},0)">
      <rect x="16" y="${140 - h}" width="44" height="${h}" fill="${colour}"><title>${esc(label(it))}: ${v === null ? "—" : v.toFixed(1) + suffix}</title></rect>
      <text x="38" y="${134 - h}" text-anchor="middle">${v === null ? "—" : Math.round(v) + suffix}</text>
      <text x="38" y="156" text-anchor="middle" font-size="10">${esc(String(label(it)).slice(-14))}</text></g>`;
  });
  return `<div class="chart-wrap"><svg width="${width}" height="${height}" role="img">
    <line x1="30" y1="140" x2="${width}" y2="140" stroke="#90a4ae"/>${bars.join("")}</svg></div>`;
}

// Citizens' satisfaction ratings (count, average 1–5 per criterion), from SLA's reports.
const RATINGS = [
  ["ratings", "Số lượt đánh giá hài lòng"], ["rating_timeliness", "Điểm thời gian giải quyết (1–5)"],
  ["rating_attitude", "Điểm thái độ phục vụ (1–5)"], ["rating_clarity", "Điểm hướng dẫn rõ ràng (1–5)"],
  ["rating_outcome", "Điểm kết quả giải quyết (1–5)"],
];
const REPORT = [
  ["carried_over", "Kỳ trước chuyển sang"], ["received", "Tiếp nhận mới"], ["to_handle", "Phải giải quyết"],
  ["resolved", "Đã giải quyết"], ["resolved_early", "— trước hạn"], ["resolved_on_time", "— đúng hạn"],
  ["resolved_late", "— trễ hạn"], ["in_progress", "Đang giải quyết"], ["in_progress_on_time", "— trong hạn"],
  ["in_progress_overdue", "— quá hạn"], ["due_within_24h", "Đến hạn trong 24 giờ"],
  ["waiting_for_supplement", "Chờ bổ sung"], ["stopped", "Dừng xử lý"], ["refused", "Không tiếp nhận"],
  ["withdrawn", "Rút hồ sơ"], ["returned", "Đã trả kết quả"], ["on_time_rate", "Tỷ lệ đúng hạn (%)"],
  ...RATINGS,
];
const CHANNEL = { in_person: "Trực tiếp", online: "Trực tuyến", post: "Bưu chính" };

function rateOf(r) {
  if (!r || r.on_time_rate === null || r.on_time_rate === undefined) return null;
  const v = Number(r.on_time_rate);
  return Number.isNaN(v) ? null : v;
}

function reportTable(rows, key, keyLabel, id) {
  const cols = ["received", "to_handle", "resolved", "resolved_early", "resolved_on_time", "resolved_late", "in_progress_overdue", "on_time_rate"];
  const label = Object.fromEntries(REPORT);
  return table([keyLabel, ...cols.map((c) => ({ label: label[c], num: true }))], rows.map((r) =>
    `<tr><td>${esc(r[key])}</td>${cols.map((c) => `<td class="num">${esc(r[c] ?? "—")}</td>`).join("")}</tr>`), `id="${id}"`);
}

function ratingTable(rows, key, keyLabel, id) {
  const rated = rows.filter((r) => r.ratings);
  if (!rated.length) return `<p class="muted" id="${id}">Chưa có đánh giá mức độ hài lòng.</p>`;
  return `<h3>Mức độ hài lòng của người dân</h3>` + table([keyLabel, ...RATINGS.map(([, l]) => ({ label: l, num: true }))], rated.map((r) =>
    `<tr><td>${esc(r[key])}</td>${RATINGS.map(([c]) => `<td class="num">${esc(r[c] ?? "—")}</td>`).join("")}</tr>`), `id="${id}"`);
}

async function viewStats() {
  const data = await api("/console/api/stats");
  let sla;
  if (data.sla) {
    const t = data.sla.total;
    const facts = REPORT.map(([k, l]) => `<tr><td>${esc(l)}</td><td class="num">${esc(t[k] ?? "—")}</td></tr>`);
    const channels = Object.entries(t.received_by_channel || {}).map(([k, v]) => `<tr><td>— ${esc(CHANNEL[k] || k)}</td><td class="num">${esc(v)}</td></tr>`);
    facts.splice(2, 0, ...channels);
    sla = `<div class="card" id="sla-report"><h1>Báo cáo giải quyết hồ sơ</h1>
      <p class="muted">Từ ${fmtTime(data.sla.from)} đến ${fmtTime(data.sla.to)}${t.unit ? ` · đơn vị ${esc(t.unit)}` : " · toàn tỉnh"} (theo dịch vụ SLA).</p>
      <div class="grid"><div>${table(["Chỉ tiêu", { label: "Số hồ sơ", num: true }], facts, 'id="sla-total"')}</div>
      <div><h2>Tỷ lệ đúng hạn theo tháng</h2>${barChart(data.sla.by_month, (r) => r.period, rateOf)}</div></div></div>
    <div class="grid">
      <div class="card"><h2>Theo đơn vị tiếp nhận</h2>${barChart(data.sla.by_unit, (r) => r.unit_code, rateOf)}
        ${reportTable(data.sla.by_unit, "unit_name", "Đơn vị", "sla-by-unit")}
        ${ratingTable(data.sla.by_unit, "unit_name", "Đơn vị", "ratings-by-unit")}</div>
      <div class="card"><h2>Theo lĩnh vực</h2>${barChart(data.sla.by_field, (r) => r.field_code, rateOf)}
        ${reportTable(data.sla.by_field, "field_name", "Lĩnh vực", "sla-by-field")}
        ${ratingTable(data.sla.by_field, "field_name", "Lĩnh vực", "ratings-by-field")}</div>
    </div>`;
  } else {
    sla = `<div class="card"><h2>Báo cáo SLA</h2><p class="notice" id="sla-report-missing">Báo cáo của dịch vụ SLA chưa sẵn sàng (${esc(data.sla_error)}). Các số liệu dưới đây tính từ hộp hồ sơ của các đơn vị.</p></div>`;
  }
  const rate = (done, onTime) => (done ? (onTime / done) * 100 : null);
  const rows = data.steps_by_unit.map((u) => `<tr><td>${esc(u.unit_code)}</td>
    <td class="num">${u.in_progress}</td><td class="num">${u.overdue}</td><td class="num">${u.due_24h}</td>
    <td class="num">${u.done}</td><td class="num">${u.done_on_time}</td>
    <td class="num">${rate(u.done, u.done_on_time) === null ? "—" : rate(u.done, u.done_on_time).toFixed(1) + " %"}</td></tr>`);
  setView(`${sla}
    <div class="card"><h2>Bước xử lý theo đơn vị (hộp hồ sơ)</h2>
      ${barChart(data.steps_by_unit, (u) => u.unit_code, (u) => rate(u.done, u.done_on_time))}
      ${table(["Đơn vị", { label: "Đang xử lý", num: true }, { label: "Quá hạn", num: true }, { label: "Đến hạn trong 24 giờ", num: true },
        { label: "Đã xong", num: true }, { label: "Xong đúng hạn", num: true }, { label: "Tỷ lệ đúng hạn", num: true }], rows, 'id="stats-table"')}</div>`);
}

// --- system health ---------------------------------------------------------------------------

async function viewHealth() {
  const data = await api("/console/api/health");
  const cards = data.services.map((s) => {
    if (s.error) return `<div class="card"><h2>${esc(s.service)}</h2><p class="status-bad">${esc(s.error)}</p></div>`;
    const pick = (name) => s.metrics.filter((m) => m.name === name);
    const one = (name) => (pick(name)[0] || { value: 0 }).value;
    const ready = s.ready && s.ready.status === "ready";
    const groups = {};
    pick("consumer_lag").forEach((m) => {
      const key = `${m.labels.consumer}|${m.labels.topic}`;
      const g = groups[key] || (groups[key] = { consumer: m.labels.consumer, topic: m.labels.topic, parts: 0, total: 0, behind: [] });
      g.parts += 1;
      g.total += m.value;
      if (m.value > 0) g.behind.push(`${m.labels.partition}: ${m.value}`);
    });
    const lag = Object.values(groups).map((g) => `<tr><td>${esc(g.consumer)}</td><td>${esc(g.topic)}</td>
      <td class="num">${g.parts}</td><td class="num lag-total">${g.total}</td><td>${esc(g.behind.join(", ") || "—")}</td></tr>`);
    const business = ["inbox_size", "deadlines", "notifications", "dead_letters_pending"].flatMap((n) => pick(n))
      .filter((m) => m.value > 0).map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(", "))}</td><td class="num">${m.value}</td></tr>`);
    const letters = s.dead_letters.map((d) => `<tr data-letter="${d.id}"><td>${d.id}</td><td>${esc(d.consumer)}</td>
      <td>${esc(d.topic)}/${d.partition}@${d.offset}</td><td>${esc(String(d.error).slice(0, 160))}</td><td>${fmtTime(d.recorded_at)}</td>
      <td>${d.replayed_at ? `Đã phát lại ${fmtTime(d.replayed_at)}` : `<button type="button" class="replay" data-service="${esc(s.service)}" data-id="${d.id}">Phát lại</button>`}</td></tr>`);
    return `<div class="card" data-service="${esc(s.service)}"><h2>${esc(s.service)}
      <span class="${ready ? "status-ok" : "status-bad"}">${ready ? "sẵn sàng" : "chưa sẵn sàng"}</span></h2>
      <dl class="facts"><dt>Outbox tồn</dt><dd class="outbox-backlog">${one("outbox_backlog")}</dd>
      <dt>Bản ghi outbox cũ nhất</dt><dd>${one("outbox_oldest_age_seconds").toFixed(1)} giây</dd></dl>
      <h3>Độ trễ consumer (bản ghi chưa xử lý)</h3>${table(["Nhóm", "Topic", { label: "Số phân vùng", num: true }, { label: "Tổng độ trễ", num: true }, "Phân vùng bị trễ"], lag)}
      <h3>Chỉ số nghiệp vụ</h3>${table(["Chỉ số", "Nhãn", { label: "Giá trị", num: true }], business)}
      <h3>Thư lỗi (dead letters)</h3>${table(["#", "Consumer", "Bản ghi", "Lỗi", "Lúc", ""], letters)}</div>`;
  });
  const view = setView(`<div class="card"><h1>Tình trạng hệ thống</h1><p class="muted">Cập nhật ${fmtTime(data.at)}</p>
    <button type="button" class="secondary" id="refresh">Làm mới</button></div><div class="health-grid">${cards.join("")}</div>`);
  $("#refresh", view).onclick = () => render();
  view.querySelectorAll("button.replay").forEach((b) => {
    b.onclick = async () => {
      b.disabled = true;
      try {
        await api(`/console/api/dead-letters/${b.dataset.service}/${b.dataset.id}/replay`, { method: "POST" });
        toast("Đã phát lại bản ghi.");
      } catch (err) { toast(`Không phát lại được: ${err.message}`); }
      await render();
    };
  });
}

// --- router ----------------------------------------------------------------------------------

async function render() {
  const [path, query] = (location.hash.slice(1) || "/inbox").split("?");
  const params = new URLSearchParams(query || "");
  const loggedIn = Boolean(state.token);
  $("#login-view").hidden = loggedIn;
  $("#nav").hidden = !loggedIn;
  $("#who").hidden = !loggedIn;
  if (!loggedIn) { $("#view").hidden = true; return; }
  try {
    if (!state.me) state.me = await api("/console/api/me");
  } catch (_) { return; }
  $("#who-name").textContent = `${sessionStorage.getItem("full_name") || state.me.user} · ${ROLE[state.me.role] || state.me.role}`;
  document.querySelectorAll("#nav a").forEach((a) => {
    a.hidden = Boolean(a.dataset.needs) && !state.me.may[a.dataset.needs];
    a.classList.toggle("active", path.startsWith(`/${a.dataset.view}`));
  });
  const parts = path.split("/").filter(Boolean);
  try {
    if (parts[0] === "dossier" && parts[1]) await viewDossier(decodeURIComponent(parts[1]));
    else if (parts[0] === "trace" && parts[1]) await viewTrace(parts[1]);
    else if (parts[0] === "overdue") await viewOverdue();
    else if (parts[0] === "dossiers") await viewDossiers(params);
    else if (parts[0] === "stats") await viewStats();
    else if (parts[0] === "health") await viewHealth();
    else await viewInbox(params);
  } catch (err) {
    setView(`<div class="card"><p class="notice">${err.status === 403 ? "Vai trò của bạn không được xem nội dung này." : "Lỗi"}: ${esc(err.message)}</p></div>`);
  }
}

$("#login-form").addEventListener("submit", login);
$("#logout-btn").addEventListener("click", logout);
window.addEventListener("hashchange", render);
render();
