/* Bảng điều hành: inbox and overdue screens (globals from console.js). */
"use strict";

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
