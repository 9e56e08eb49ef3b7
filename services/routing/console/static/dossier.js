/* Bảng điều hành: dossier search, dossier page, trace waterfall (globals from console.js). */
"use strict";

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
