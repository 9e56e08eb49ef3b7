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
  if (!loggedIn) { $("#view").hidden = true; return; }
  try {
    if (!state.me) state.me = await api("/console/api/me");
    if (!state.names) state.names = await api("/console/api/names");
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
// The screens live in their own files, loaded after this one.
document.addEventListener("DOMContentLoaded", render);
