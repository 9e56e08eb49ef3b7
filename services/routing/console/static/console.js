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
// Every event type of contracts/events.py (a unit test checks none is missing).
const EVENT = {
  "dossier.received": "Tiếp nhận hồ sơ",
  "dossier.contact_ref_assigned": "Ghi nhận thông tin liên hệ",
  "dossier.opt_out_changed": "Thay đổi đăng ký nhận thông báo",
  "dossier.withdrawal_requested": "Công dân yêu cầu rút hồ sơ",
  "step.assigned": "Giao bước xử lý",
  "step.claimed": "Cán bộ nhận xử lý",
  "step.handed_off": "Chuyển bước (phiếu 06)",
  "step.escalated": "Báo cáo cấp trên (bước quá hạn)",
  "step.overdue": "Bước quá hạn",
  "deadline.opened": "Mở thời hạn",
  "deadline.due_soon": "Sắp đến hạn",
  "deadline.overdue_withdrawn": "Hủy cảnh báo quá hạn",
  "dossier.overdue": "Hồ sơ quá hạn",
  "dossier.supplement_requested": "Yêu cầu bổ sung (mẫu 02)",
  "dossier.supplement_submitted": "Công dân đã bổ sung",
  "dossier.obligation_requested": "Thông báo nghĩa vụ tài chính",
  "dossier.obligation_paid": "Đã nộp nghĩa vụ tài chính",
  "dossier.processing_resumed": "Tiếp tục xử lý",
  "dossier.result_ready": "Đã có kết quả",
  "dossier.returned": "Đã trả kết quả",
  "dossier.postal_tracking": "Cập nhật chuyển phát bưu chính",
  "dossier.refused": "Không tiếp nhận (mẫu 03)",
  "dossier.stopped": "Dừng xử lý (mẫu 05)",
  "dossier.withdrawn": "Công dân rút hồ sơ",
  "dossier.rated": "Công dân đánh giá mức độ hài lòng",
  "notification.status_changed": "Trạng thái thông báo cho công dân",
  "apology.issued": "Thư xin lỗi (mẫu 04)",
};
// Notify's delivery statuses (services/notify/domain/lifecycle.py) and channels.
const MESSAGE_STATUS = {
  created: "Đã tạo", sending: "Đang gửi", sent: "Đã gửi đi", delivered: "Đã đến người nhận",
  temporary_failure: "Lỗi tạm thời (sẽ gửi lại)", permanent_failure: "Không gửi được đến người nhận",
  technical_failure: "Lỗi kỹ thuật",
};
const MESSAGE_CHANNEL = { sms: "Tin nhắn SMS", zalo: "Zalo", email: "Thư điện tử" };
const POSTAL_STATUS = {
  created: "Đã tạo đơn chuyển phát", accepted: "Bưu điện đã nhận", in_transit: "Đang chuyển phát",
  delivered: "Đã phát cho công dân", returned_to_sender: "Chuyển hoàn",
};
const DEADLINE_OUTCOME = { early: "Sớm hạn", on_time: "Đúng hạn", late: "Trễ hạn" };
// A dossier in one of these statuses is no longer running against a deadline.
const ENDED = new Set([3, 7, 8, 9, 10]);
// Ended without being resolved on the merits: no timeliness verdict at all.
const NO_VERDICT = new Set([3, 7, 8]);

function eventName(type) { return EVENT[type] || "Sự kiện khác"; }
function messageStatus(s) { return MESSAGE_STATUS[s] || "Trạng thái khác"; }
function messageChannel(c) { return MESSAGE_CHANNEL[c] || c || "—"; }

// What a deadline of a dossier shows: urgency only while the dossier runs; once it has
// ended, the verdict (early / on time / late) only when it was resolved, never for a
// withdrawn, refused or stopped dossier (SLA closes those deadlines "early").
function deadlineVerdict(dossierStatus, outcome) {
  const status = Number(dossierStatus);
  if (NO_VERDICT.has(status)) return { label: "Không tính hạn", css: "muted" };
  if (outcome) return { label: DEADLINE_OUTCOME[outcome] || "—", css: outcome === "late" ? "overdue" : "ok" };
  if (ENDED.has(status)) return { label: "Đã kết thúc", css: "muted" };
  return null;
}

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
  // An error shows its Vietnamese title (ApiError's message), never the API's detail.
  const el = $("#toast");
  el.textContent = text instanceof ApiError ? text.message : text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

// Field names and pydantic error types as an official reads them.
const FIELD_LABEL = {
  from: "Từ ngày", to: "Đến ngày", amount: "Số tiền", note: "Ghi chú", reason: "Lý do",
  reasons: "Lý do", username: "Tên đăng nhập", password: "Mật khẩu", q: "Từ khóa tìm kiếm",
  unit: "Đơn vị", to_user: "Cán bộ nhận", missing: "Giấy tờ còn thiếu", branch: "Hướng xử lý",
  page: "Trang", size: "Số dòng mỗi trang", received_from: "Tiếp nhận từ ngày",
  received_to: "Tiếp nhận đến ngày", status: "Trạng thái", procedure: "Thủ tục", field: "Lĩnh vực",
};
const ERROR_TYPE = {
  missing: "chưa nhập", string_too_short: "quá ngắn", string_too_long: "quá dài",
  string_pattern_mismatch: "sai định dạng", date_from_datetime_parsing: "không phải ngày hợp lệ",
  date_parsing: "không phải ngày hợp lệ", datetime_parsing: "không phải thời điểm hợp lệ",
  datetime_from_date_parsing: "không phải thời điểm hợp lệ", int_parsing: "phải là số nguyên",
  decimal_parsing: "phải là số", float_parsing: "phải là số", greater_than: "quá nhỏ",
  greater_than_equal: "quá nhỏ", less_than: "quá lớn", less_than_equal: "quá lớn",
  literal_error: "không thuộc các giá trị cho phép", enum: "không thuộc các giá trị cho phép",
  too_short: "quá ít mục", too_long: "quá nhiều mục", extra_forbidden: "không được phép gửi",
  uuid_parsing: "sai định dạng", bool_parsing: "phải là có/không", json_invalid: "sai định dạng",
};
const HTTP_TEXT = {
  0: "Không kết nối được máy chủ", 400: "Yêu cầu không hợp lệ", 401: "Chưa đăng nhập hoặc phiên đã hết hạn",
  403: "Không có quyền thực hiện", 404: "Không tìm thấy", 409: "Xung đột với trạng thái hiện tại",
  413: "Dữ liệu gửi lên quá lớn", 422: "Dữ liệu không hợp lệ", 429: "Quá nhiều yêu cầu, vui lòng thử lại sau",
  500: "Lỗi hệ thống", 502: "Dịch vụ tạm thời không phản hồi", 503: "Dịch vụ tạm thời không phản hồi",
  504: "Dịch vụ phản hồi quá chậm",
};

function fieldErrors(body) {
  // Each invalid value of a 422, in Vietnamese: "Từ ngày: không phải ngày hợp lệ".
  if (!body || !Array.isArray(body.errors)) return [];
  return body.errors.map((e) => {
    const loc = (e.loc || []).filter((p) => !["body", "query", "path"].includes(String(p)));
    const name = loc.length ? FIELD_LABEL[loc[loc.length - 1]] || "Một trường" : "Dữ liệu";
    return `${name}: ${ERROR_TYPE[e.type] || "không hợp lệ"}`;
  });
}

function problemText(status, body) {
  // The problem's Vietnamese title (never the English detail), with its field errors.
  const title = (body && typeof body.title === "string" && body.title) || HTTP_TEXT[status]
    || (status >= 500 ? HTTP_TEXT[500] : "Yêu cầu không được chấp nhận");
  const fields = fieldErrors(body);
  return fields.length ? `${title} — ${fields.join("; ")}` : title;
}

class ApiError extends Error {
  constructor(status, body) {
    super(problemText(status, body));
    this.status = status;
    this.body = body;
    this.fields = fieldErrors(body);
  }
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  } catch (_) {
    throw new ApiError(0, null);
  }
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (response.status === 401 && state.token) {
    logout();
    throw new ApiError(401, body);
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// A file from the console's API (an export): fetched with the operator's token, saved
// under the server's file name.
async function downloadFile(path) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  let response;
  try { response = await fetch(path, { headers }); } catch (_) { throw new ApiError(0, null); }
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    throw new ApiError(response.status, body);
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = match ? match[1] : "thong-ke";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function logout() {
  state.token = null;
  state.me = null;
  state.names = null;
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
    $("#login-error").textContent = err.status === 401 ? "Sai tên đăng nhập hoặc mật khẩu." : err.message;
  }
}

function setView(html) {
  const view = $("#view");
  view.innerHTML = html;
  view.hidden = false;
  return view;
}

function table(headers, rows, attrs = "") {
  // A column without a title (the buttons) still has a name for screen readers.
  const head = headers.map((h) => {
    const label = h.label ?? h;
    return `<th scope="col"${h.num ? ' class="num"' : ""}>${label === "" ? '<span class="sr-only">Thao tác</span>' : esc(label)}</th>`;
  }).join("");
  return `<table ${attrs}><thead><tr>${head}</tr></thead><tbody>${rows.join("") ||
    `<tr><td colspan="${headers.length}" class="muted">Không có dữ liệu.</td></tr>`}</tbody></table>`;
}

// Human names from the reference data (/console/api/names); the code when unknown.
function unitName(code) { return (state.names && state.names.units[code]) || code || "—"; }
function procedureName(code) { return (state.names && state.names.procedures[code]) || code || "—"; }
function fieldName(code) { return (state.names && state.names.fields[code]) || code || "—"; }
function stepName(procedure, step) {
  const steps = state.names && state.names.steps[procedure];
  return (steps && steps[step]) || step || "—";
}

function dossierLink(code) {
  return `<a href="#/dossier/${encodeURIComponent(code)}">${esc(code)}</a>`;
}

// --- router ----------------------------------------------------------------------------------

async function render() {
  const [path, query] = (location.hash.slice(1) || "/inbox").split("?");
  const params = new URLSearchParams(query || "");
  const loggedIn = Boolean(state.token);
  $("#login-view").hidden = loggedIn;
  $("#nav").hidden = !loggedIn;
  $("#who").hidden = !loggedIn;
  if (!loggedIn) { $("#view").hidden = true; await showLoginHint(); return; }
  try {
    if (!state.me) state.me = await api("/console/api/me");
    if (!state.names) state.names = await api("/console/api/names");
  } catch (_) { return; }
  $("#who-name").textContent = `${sessionStorage.getItem("full_name") || state.me.user} · ${ROLE[state.me.role] || state.me.role}`;
  document.querySelectorAll("#nav a").forEach((a) => {
    a.hidden = Boolean(a.dataset.needs) && !state.me.may[a.dataset.needs];
    const active = path.startsWith(`/${a.dataset.view}`);
    a.classList.toggle("active", active);
    if (active) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  const parts = path.split("/").filter(Boolean);
  try {
    if (parts[0] === "dossier" && parts[1]) await viewDossier(decodeURIComponent(parts[1]));
    else if (parts[0] === "trace" && parts[1]) await viewTrace(parts[1]);
    else if (parts[0] === "overdue") await viewOverdue();
    else if (parts[0] === "dossiers") await viewDossiers(params);
    else if (parts[0] === "stats") await viewStats(params);
    else if (parts[0] === "health") await viewHealth();
    else await viewInbox(params);
  } catch (err) {
    const lead = err.status === 403 ? "Vai trò của bạn không được xem nội dung này" : "Không tải được nội dung";
    setView(`<div class="card"><h1>${err.status === 403 ? "Không có quyền xem" : "Không tải được nội dung"}</h1><p class="notice" role="alert" id="view-error">${lead}: ${esc(err instanceof ApiError ? err.message : "lỗi không xác định")}.</p></div>`);
  }
}

// The development accounts are named on the sign-in page only where they exist.
async function showLoginHint() {
  const el = $("#dev-hint");
  if (state.hint === undefined) {
    try { state.hint = (await api("/console/api/login-hint")).development_accounts; } catch (_) { state.hint = null; }
  }
  if (!state.hint) { el.hidden = true; el.textContent = ""; return; }
  const accounts = state.hint.accounts.map((a) => `<code>${esc(a.username)}</code> (${esc(a.role)})`).join(", ");
  el.innerHTML = `Tài khoản phát triển: ${accounts}; mật khẩu <code>${esc(state.hint.password)}</code>.`;
  el.hidden = false;
}

$("#login-form").addEventListener("submit", login);
// The skip link moves the focus without touching the hash (the hash is the route).
$(".skip").addEventListener("click", (e) => { e.preventDefault(); $("#main").focus(); });
$("#logout-btn").addEventListener("click", logout);
window.addEventListener("hashchange", render);
// The screens live in their own files, loaded after this one.
document.addEventListener("DOMContentLoaded", render);
