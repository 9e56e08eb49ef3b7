/* Bảng điều hành: inbox and overdue screens (globals from console.js). */
"use strict";

// --- inbox -----------------------------------------------------------------------------------
// One unit's queue, counted, filtered, sorted and paged on the server. The unit is in the
// address (#/inbox?unit=...); the filters and the search stay in this page's memory, so a
// citizen's name or phone typed into the search never lands in the browser's history.

const INBOX_STATUSES = ["open", "claimed", "waiting"];

// A step that ends by recording the financial obligation is finished on the dossier page
// (amount, payment wait), not with the inbox's "complete".
function assessesPayment(t) {
  const steps = state.names && state.names.assesses_payment && state.names.assesses_payment[t.procedure_code];
  return Boolean(steps && steps.includes(t.step_id));
}
const INBOX_URGENCIES = ["overdue", "critical", "soon", "ok", "none"];
const SEARCH_MODES = { code: "Mã hồ sơ", name: "Tên người nộp", phone: "Số điện thoại (số cuối)" };
const SEARCH_HINTS = {
  code: "Một phần mã hồ sơ",
  name: "Ví dụ: nguyen thi lan (không cần dấu)",
  phone: "4 đến 10 chữ số cuối",
};
const SORTS = {
  "remaining:asc": "Sắp hết hạn trước",
  "remaining:desc": "Còn nhiều thời gian trước",
  "received:desc": "Mới nhận trước",
  "received:asc": "Nhận lâu nhất trước",
};
const PAGE_SIZES = [20, 50, 100];
const inboxQuery = {
  unit: null, status: [], urgency: [], procedure: "", field: "", from: "", to: "",
  sort: "remaining:asc", page: 1, size: 50, q: "", mode: "code",
};

function resetInboxQuery(unit) {
  Object.assign(inboxQuery, {
    unit, status: [], urgency: [], procedure: "", field: "", from: "", to: "",
    sort: "remaining:asc", page: 1, size: 50, q: "", mode: "code",
  });
}

function inboxParams() {
  const p = new URLSearchParams({ unit: inboxQuery.unit });
  inboxQuery.status.forEach((s) => p.append("status", s));
  inboxQuery.urgency.forEach((u) => p.append("urgency", u));
  if (inboxQuery.procedure) p.set("procedure", inboxQuery.procedure);
  if (inboxQuery.field) p.set("field", inboxQuery.field);
  if (inboxQuery.from) p.set("received_from", inboxQuery.from);
  if (inboxQuery.to) p.set("received_to", inboxQuery.to);
  const [sort, order] = inboxQuery.sort.split(":");
  p.set("sort", sort);
  p.set("order", order);
  p.set("page", String(inboxQuery.page));
  p.set("page_size", String(inboxQuery.size));
  if (inboxQuery.q) { p.set("q", inboxQuery.q); p.set("mode", inboxQuery.mode); }
  return p;
}

function options(entries, selected, blank) {
  const head = blank ? `<option value="">${esc(blank)}</option>` : "";
  return head + entries.map(([value, label]) =>
    `<option value="${esc(value)}"${value === selected ? " selected" : ""}>${esc(label)}</option>`).join("");
}

async function viewInbox(params) {
  const unit = params.get("unit") || state.me.unit_code;
  if (inboxQuery.unit !== unit) resetInboxQuery(unit);
  let units = [state.me.unit_code];
  if (state.me.may.all_units) units = (await api("/console/api/units")).units;
  const names = state.names || { procedures: {}, fields: {} };
  const picker = units.length > 1
    ? `<label for="unit-pick">Đơn vị</label><select id="unit-pick">${options(
      units.map((u) => [u, `${unitName(u)} (${u})`]), unit)}</select>` : "";
  const view = setView(`
    <div class="card">
      <h1>Hộp hồ sơ: ${esc(unitName(unit))} <code id="inbox-unit">${esc(unit)}</code></h1>
      <div class="toolbar">${picker}<button type="button" class="secondary" id="refresh">Làm mới</button></div>
      <form id="inbox-search" class="inbox-search" role="search" aria-label="Tìm hồ sơ trong hộp">
        <label for="search-mode">Tìm theo</label>
        <select id="search-mode">${options(Object.entries(SEARCH_MODES), inboxQuery.mode)}</select>
        <label for="search-q">Từ khóa tìm kiếm</label>
        <input id="search-q" type="search" maxlength="100" autocomplete="off"
               value="${esc(inboxQuery.q)}" placeholder="${esc(SEARCH_HINTS[inboxQuery.mode])}">
        <button type="submit" id="search-btn">Tìm</button>
        <button type="button" class="secondary" id="search-clear">Xóa tìm kiếm</button>
        <p class="muted small" id="search-note">Tìm theo tên hoặc số điện thoại được ghi vào nhật ký truy cập dữ liệu cá nhân.</p>
      </form>
      <form id="inbox-filters" class="inbox-filters" aria-label="Bộ lọc hộp hồ sơ">
        <div><label for="f-status">Trạng thái</label>
          <select id="f-status">${options(INBOX_STATUSES.map((s) => [s, TASK_STATUS[s] || s]),
            inboxQuery.status.length === 1 ? inboxQuery.status[0] : "", "Chờ nhận và đang xử lý")}</select></div>
        <div><label for="f-urgency">Thời hạn</label>
          <select id="f-urgency">${options(INBOX_URGENCIES.map((u) => [u, URGENCY[u] || u]),
            inboxQuery.urgency.length === 1 ? inboxQuery.urgency[0] : "", "Tất cả")}</select></div>
        <div><label for="f-procedure">Thủ tục</label>
          <select id="f-procedure">${options(Object.entries(names.procedures).sort((a, b) =>
            a[1].localeCompare(b[1], "vi")), inboxQuery.procedure, "Tất cả thủ tục")}</select></div>
        <div><label for="f-field">Lĩnh vực</label>
          <select id="f-field">${options(Object.entries(names.fields).sort((a, b) =>
            a[1].localeCompare(b[1], "vi")), inboxQuery.field, "Tất cả lĩnh vực")}</select></div>
        <div><label for="f-from">Nhận từ ngày</label>
          <input id="f-from" type="date" value="${esc(inboxQuery.from)}"></div>
        <div><label for="f-to">Đến ngày</label>
          <input id="f-to" type="date" value="${esc(inboxQuery.to)}"></div>
        <div><label for="f-sort">Sắp xếp</label>
          <select id="f-sort">${options(Object.entries(SORTS), inboxQuery.sort)}</select></div>
        <div><label for="f-size">Số dòng mỗi trang</label>
          <select id="f-size">${options(PAGE_SIZES.map((n) => [String(n), String(n)]), String(inboxQuery.size))}</select></div>
        <div class="filter-actions"><button type="submit" id="filter-apply">Áp dụng bộ lọc</button>
          <button type="button" class="secondary" id="filter-clear">Xóa bộ lọc</button></div>
      </form>
      <div id="inbox-counts" class="inbox-counts" aria-live="polite"></div>
      <div class="legend"><span class="muted">Thời gian còn lại tính theo giờ làm việc (8 giờ = 1 ngày làm việc).</span></div>
      <p id="inbox-summary" class="muted" aria-live="polite"></p>
      <div id="inbox-rows"></div>
      <nav id="inbox-pager" class="pager" aria-label="Phân trang hộp hồ sơ"></nav>
    </div>`);
  $("#refresh", view).onclick = () => loadInbox(view);
  const pick = $("#unit-pick", view);
  if (pick) pick.onchange = () => { location.hash = `#/inbox?unit=${encodeURIComponent(pick.value)}`; };
  $("#search-mode", view).onchange = (e) => { $("#search-q", view).placeholder = SEARCH_HINTS[e.target.value]; };
  $("#inbox-search", view).onsubmit = (e) => {
    e.preventDefault();
    inboxQuery.mode = $("#search-mode", view).value;
    inboxQuery.q = $("#search-q", view).value.trim();
    inboxQuery.page = 1;
    loadInbox(view);
  };
  $("#search-clear", view).onclick = () => {
    $("#search-q", view).value = "";
    inboxQuery.q = "";
    inboxQuery.page = 1;
    loadInbox(view);
  };
  $("#inbox-filters", view).onsubmit = (e) => {
    e.preventDefault();
    readFilters(view);
    loadInbox(view);
  };
  $("#filter-clear", view).onclick = () => {
    const { q, mode } = inboxQuery;
    resetInboxQuery(unit);
    Object.assign(inboxQuery, { q, mode });
    viewInbox(params);
  };
  await loadInbox(view);
}

function readFilters(view) {
  const status = $("#f-status", view).value;
  const urgency = $("#f-urgency", view).value;
  inboxQuery.status = status ? [status] : [];
  inboxQuery.urgency = urgency ? [urgency] : [];
  inboxQuery.procedure = $("#f-procedure", view).value;
  inboxQuery.field = $("#f-field", view).value;
  inboxQuery.from = $("#f-from", view).value;
  inboxQuery.to = $("#f-to", view).value;
  inboxQuery.sort = $("#f-sort", view).value;
  inboxQuery.size = Number($("#f-size", view).value);
  inboxQuery.page = 1;
}

function syncFilterControls(view) {
  $("#f-status", view).value = inboxQuery.status.length === 1 ? inboxQuery.status[0] : "";
  $("#f-urgency", view).value = inboxQuery.urgency.length === 1 ? inboxQuery.urgency[0] : "";
}

async function loadInbox(view) {
  let data;
  try {
    data = await api(`/console/api/inbox?${inboxParams().toString()}`);
  } catch (err) {
    toast(`Không tải được hộp hồ sơ: ${err.message}`);
    $("#inbox-rows", view).innerHTML = `<p class="notice">Không tải được hộp hồ sơ: ${esc(err.message)}</p>`;
    return;
  }
  renderCounts(view, data);
  const filtered = inboxQuery.status.length || inboxQuery.urgency.length || inboxQuery.procedure ||
    inboxQuery.field || inboxQuery.from || inboxQuery.to;
  const first = data.total ? (data.page - 1) * data.page_size + 1 : 0;
  const lastRow = Math.min(data.page * data.page_size, data.total);
  $("#inbox-summary", view).textContent = data.total
    ? `${data.total.toLocaleString("vi-VN")} hồ sơ · dòng ${first}–${lastRow} · trang ${data.page}/${data.pages}`
    : "";
  const rows = data.items.map((t) => `
    <tr class="urg-${esc(t.urgency)}" data-task="${esc(t.task_id)}" data-dossier="${esc(t.dossier_code)}">
      <td>${dossierLink(t.dossier_code)}<div class="muted">${esc(procedureName(t.procedure_code))}</div></td>
      <td>${esc(stepName(t.procedure_code, t.step_id))}</td>
      <td>${esc(TASK_STATUS[t.status] || t.status)}${t.claimed_by ? `<div class="muted">${esc(t.claimed_by)}</div>` : ""}</td>
      <td>${fmtTime(t.assigned_at)}</td>
      <td>${fmtTime(t.due_at)}</td>
      <td><span class="pill ${esc(t.urgency)}" title="${esc(URGENCY[t.urgency])}">${esc(t.due_at ? fmtHours(t.remaining_hours) : URGENCY.none)}</span></td>
      <td class="actions">
        ${t.status === "open" ? `<button type="button" class="claim" data-version="${t.dossier_version}">Nhận xử lý</button>` : ""}
        ${t.status === "claimed" && !assessesPayment(t) ? `<button type="button" class="complete">Hoàn thành bước</button>` : ""}
        ${t.status === "claimed" && assessesPayment(t) ? `<a class="obligation" href="#/dossier/${encodeURIComponent(t.dossier_code)}">Ghi nghĩa vụ tài chính</a>` : ""}
      </td>
    </tr>`);
  const empty = inboxQuery.q
    ? `Không tìm thấy hồ sơ nào theo ${SEARCH_MODES[inboxQuery.mode].toLowerCase()} “${inboxQuery.q}”.`
    : filtered ? "Không có hồ sơ nào khớp bộ lọc." : "Hộp hồ sơ trống: không có hồ sơ nào đang chờ đơn vị.";
  const body = rows.length ? rows : [`<tr><td colspan="7" class="muted" id="inbox-empty">${esc(empty)}</td></tr>`];
  $("#inbox-rows", view).innerHTML = table(
    ["Hồ sơ", "Bước", "Trạng thái", "Nhận lúc", "Hạn bước", "Thời gian còn lại", ""], body, 'id="inbox-table"');
  if (data.search && data.search.truncated) {
    $("#inbox-summary", view).textContent += " · Có quá nhiều kết quả, vui lòng nhập thêm từ khóa.";
  }
  renderPager(view, data);
  view.querySelectorAll("#inbox-table button.claim").forEach((b) => {
    b.onclick = () => act(b, "claim", { expected_version: Number(b.dataset.version) });
  });
  view.querySelectorAll("#inbox-table button.complete").forEach((b) => {
    b.onclick = () => act(b, "complete", { note: "Hoàn thành tại bảng điều hành" });
  });
}

function renderCounts(view, data) {
  const button = (kind, key, label, n, pressed) =>
    `<button type="button" class="count ${kind === "urgency" ? `urg ${esc(key)}` : ""}" data-${kind}="${esc(key)}"
       aria-pressed="${pressed}"><span class="count-n">${esc(n.toLocaleString("vi-VN"))}</span>
       <span class="count-label">${esc(label)}</span></button>`;
  const statuses = INBOX_STATUSES.map((s) => button("status", s, TASK_STATUS[s] || s,
    data.counts.status[s] || 0, inboxQuery.status.includes(s)));
  const urgencies = INBOX_URGENCIES.map((u) => button("urgency", u, URGENCY[u] || u,
    data.counts.urgency[u] || 0, inboxQuery.urgency.includes(u)));
  $("#inbox-counts", view).innerHTML = `
    <div role="group" aria-label="Số hồ sơ theo trạng thái (bấm để lọc)" id="counts-status">${statuses.join("")}</div>
    <div role="group" aria-label="Số hồ sơ theo thời hạn (bấm để lọc)" id="counts-urgency">${urgencies.join("")}</div>`;
  view.querySelectorAll("#inbox-counts button").forEach((b) => {
    b.onclick = () => {
      const kind = b.dataset.status ? "status" : "urgency";
      const key = b.dataset[kind];
      inboxQuery[kind] = inboxQuery[kind].length === 1 && inboxQuery[kind][0] === key ? [] : [key];
      inboxQuery.page = 1;
      syncFilterControls(view);
      loadInbox(view).then(() => {
        const again = $(`#inbox-counts button[data-${kind}="${key}"]`, view);
        if (again) again.focus();
      });
    };
  });
}

function renderPager(view, data) {
  const pager = $("#inbox-pager", view);
  if (data.pages <= 1) { pager.innerHTML = ""; return; }
  const go = (page, label, text, disabled) =>
    `<button type="button" class="secondary" data-page="${page}" aria-label="${esc(label)}"${disabled ? " disabled" : ""}>${esc(text)}</button>`;
  pager.innerHTML = [
    go(1, "Trang đầu", "« Đầu", data.page <= 1),
    go(data.page - 1, "Trang trước", "‹ Trước", data.page <= 1),
    `<span id="inbox-page" aria-current="page">Trang ${data.page} / ${data.pages}</span>`,
    go(data.page + 1, "Trang sau", "Sau ›", data.page >= data.pages),
    go(data.pages, "Trang cuối", "Cuối »", data.page >= data.pages),
  ].join("");
  pager.querySelectorAll("button[data-page]").forEach((b) => {
    b.onclick = () => {
      inboxQuery.page = Number(b.dataset.page);
      const label = b.getAttribute("aria-label");
      loadInbox(view).then(() => {
        const again = $(`#inbox-pager button[aria-label="${label}"]`, view);
        if (again && !again.disabled) again.focus();
      });
    };
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
  const view = button.closest("#view");
  if (view && $("#inbox-rows", view)) await loadInbox(view);
  else await render();
}

// --- overdue ---------------------------------------------------------------------------------

async function viewOverdue() {
  const data = await api("/console/api/overdue");
  const rows = data.items.map((t) => `
    <tr class="urg-overdue" data-dossier="${esc(t.dossier_code)}">
      <td>${dossierLink(t.dossier_code)}<div class="muted">${esc(procedureName(t.procedure_code))}</div></td>
      <td>${esc(stepName(t.procedure_code, t.step_id))}</td>
      <td><strong>${esc(unitName(t.responsible_unit))}</strong><div class="muted">${esc(t.responsible_unit)}</div></td>
      <td>${fmtTime(t.due_at)}</td>
      <td class="num">${esc(fmtLate(t.late_working_hours))}</td>
      <td>${esc(TASK_STATUS[t.status] || t.status)}</td>
    </tr>`);
  const body = rows.length ? rows
    : ['<tr><td colspan="6" class="muted" id="overdue-empty">Không có bước nào quá hạn.</td></tr>'];
  setView(`<div class="card"><h1>Hồ sơ quá hạn</h1>
    <p class="muted">Mỗi bước quá thời hạn của chính nó; đơn vị chịu trách nhiệm là đơn vị đang giữ bước.
      Thời gian trễ tính theo giờ làm việc (8 giờ = 1 ngày làm việc).</p>
    <p id="overdue-total"><strong>${esc((data.total ?? data.items.length).toLocaleString("vi-VN"))}</strong> bước quá hạn${
      data.total > data.items.length ? ` (hiển thị ${data.items.length} bước trễ lâu nhất)` : ""}.</p>
    ${table(["Hồ sơ", "Bước", "Đơn vị chịu trách nhiệm", "Hạn bước", { label: "Trễ (giờ làm việc)", num: true }, "Trạng thái"], body, 'id="overdue-table"')}
  </div>`);
}

function fmtLate(hours) {
  if (hours === null || hours === undefined) return "—";
  return fmtHours(-Math.max(hours, 0)).replace(/^còn /, "trễ ");
}
