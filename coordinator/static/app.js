// Mikomi web UI: small progressive enhancements; every page works without them.
"use strict";

// The label catalogue (shared/labels.py), rendered into every page by base.html.
const LABELS = (() => {
  const block = document.getElementById("mikomi-labels");
  try { return block ? JSON.parse(block.textContent) : {}; } catch (e) { return {}; }
})();

function label(table, word) {
  return (LABELS[table] && LABELS[table][word]) || word;
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Buttons with data-dialog="id" open that <dialog>; [data-close] buttons close theirs.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.dialog);
    if (dialog && dialog.showModal) {
      event.preventDefault();
      for (const [key, value] of Object.entries(opener.dataset)) {
        if (key.startsWith("set")) {
          const target = dialog.querySelector(`[name="${key.slice(3).toLowerCase()}"]`);
          if (target) target.value = value;
        }
      }
      const form = dialog.querySelector("form");
      if (form && opener.dataset.action) form.action = opener.dataset.action;
      dialog.showModal();
    }
  }
  const closer = event.target.closest("[data-close]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) { event.preventDefault(); dialog.close(); }
  }
  const copier = event.target.closest("[data-copy]");
  if (copier) {
    const input = document.getElementById(copier.dataset.copy);
    if (input) {
      input.select();
      if (navigator.clipboard) navigator.clipboard.writeText(input.value).catch(() => {});
      copier.textContent = "コピーしました";
    }
  }
});

// Live counters: rows/blocks with data-live="reservation id" get their [data-counter] cells
// updated from the SSE stream, falling back to polling the JSON API.
function applyCounters(root, data) {
  for (const cell of root.querySelectorAll("[data-counter]")) {
    const key = cell.dataset.counter;
    if (data[key] === undefined || data[key] === null) continue;
    if (key === "status_ja" || key === "status") {
      cell.textContent = data.status_ja || cell.textContent;
      if (cell.classList.contains("status") && data.status) cell.className = "status " + data.status;
      continue;
    }
    const value = Number(data[key]);
    cell.textContent = value.toLocaleString("ja-JP") + (cell.dataset.suffix || "");
  }
  const bar = root.querySelector(".progress span");
  if (bar && data.count) {
    const pct = Math.min(100, (Number(data.sent) * 100) / Number(data.count));
    bar.style.width = pct.toFixed(1) + "%";
  }
  if (data.status) root.dataset.status = data.status;
}

function liveReservation(root) {
  const id = root.dataset.live;
  let polling = null;
  const update = (data) => {
    if (data.status && !data.status_ja) data.status_ja = label("reservation_status", data.status);
    applyCounters(root, data);
    root.dispatchEvent(new CustomEvent("mikomi:counters", { detail: data, bubbles: true }));
  };
  const poll = () => {
    fetch(`/api/v1/reservations/${id}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => { if (data) update(data); })
      .catch(() => {});
  };
  const startPolling = () => { if (!polling) { poll(); polling = setInterval(poll, 3000); } };
  const stopPolling = () => { if (polling) { clearInterval(polling); polling = null; } };
  // A slow poll backs the stream up: a change that published no event still shows.
  setInterval(poll, 15000);
  if (window.EventSource && streams < MAX_STREAMS) {
    streams += 1;
    const source = new EventSource(`/api/v1/reservations/${id}/events`);
    source.onmessage = (event) => {
      try { update(JSON.parse(event.data)); } catch (e) { /* a keep-alive or a partial event */ }
    };
    source.addEventListener("counters", (event) => {
      try { update(JSON.parse(event.data)); } catch (e) { /* ignore */ }
    });
    // Closed for good or reconnecting by itself: the counters keep coming by polling until
    // the stream is back.
    source.onerror = startPolling;
    source.onopen = stopPolling;
  } else {
    startPolling();
  }
}

// Browsers allow about six connections per host: a page streams one reservation at most.
const MAX_STREAMS = 1;
let streams = 0;

// A list page (予約一覧, 予約履歴): one request for every live row every few seconds, instead
// of a stream per row.
function liveRows(roots) {
  const byId = new Map(roots.map((root) => [root.dataset.live, root]));
  const query = [...byId.keys()].map((id) => "ids=" + encodeURIComponent(id)).join("&");
  const poll = () => {
    if (document.hidden) return;
    fetch(`/api/v1/reservations/live?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (!data) return;
        for (const row of data.reservations) {
          const root = byId.get(String(row.reservation_id));
          if (root) applyCounters(root, row);
        }
      })
      .catch(() => {});
  };
  setInterval(poll, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  const finished = ["completed", "cancelled", "auto_cancelled"];
  const roots = [...document.querySelectorAll("[data-live]")].filter(
    (root) => !finished.includes(root.dataset.status)
  );
  if (roots.length === 1) liveReservation(roots[0]);
  else if (roots.length > 1) liveRows(roots);
  // The reservation form's 見込客リストから検索 returns here with ?list_url=…; nothing to do.
  const chat = document.querySelector(".chat");
  if (chat) chat.scrollTop = chat.scrollHeight;
});

// A dialog re-rendered with an error opens again, keeping what was typed.
document.addEventListener("DOMContentLoaded", () => {
  for (const dialog of document.querySelectorAll("dialog[data-open]")) {
    if (dialog.showModal) dialog.showModal();
  }
});

// 予約代行フォーム: what was typed survives the trip to 見込客リスト一覧 and back.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("reservation-form");
  if (!form) return;
  const key = "mikomi:reservation-form";
  const saved = sessionStorage.getItem(key);
  if (saved) {
    try {
      const values = JSON.parse(saved);
      for (const [name, value] of Object.entries(values)) {
        const input = form.elements.namedItem(name);
        if (input && !input.value && name !== "list_url") input.value = value;
      }
    } catch (e) { /* ignore */ }
    sessionStorage.removeItem(key);
  }
  const link = document.getElementById("search-prospects");
  if (link) {
    link.addEventListener("click", () => {
      const values = {};
      for (const name of ["count", "senders", "script_id"]) {
        const input = form.elements.namedItem(name);
        if (input && input.value) values[name] = input.value;
      }
      sessionStorage.setItem(key, JSON.stringify(values));
    });
  }
});

// 見込客インポート: the upload goes by XHR so its progress bar shows how much of the file has
// reached the coordinator; then the page the server answered with is followed (the job's
// progress) or its error is shown beside the file field. Without XHR the form posts as usual.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("import-form");
  const box = document.getElementById("upload-progress");
  if (!form || !box || !window.XMLHttpRequest || !window.FormData) return;
  const bar = box.querySelector("span");
  form.addEventListener("submit", (event) => {
    const file = form.elements.namedItem("file");
    if (!file || !file.files || !file.files.length) return;
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    box.hidden = false;
    box.setAttribute("role", "progressbar");
    box.setAttribute("aria-valuemin", "0");
    box.setAttribute("aria-valuemax", "100");
    const show = (pct) => {
      bar.style.width = pct.toFixed(1) + "%";
      box.setAttribute("aria-valuenow", String(Math.round(pct)));
      box.dataset.percent = String(Math.round(pct));
    };
    show(0);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && e.total) show((e.loaded * 100) / e.total);
    });
    xhr.upload.addEventListener("load", () => show(100));
    xhr.addEventListener("load", () => {
      if (xhr.status < 400) {
        window.location.assign(xhr.responseURL || form.action);
        return;
      }
      if (button) button.disabled = false;
      box.hidden = true;
      const answer = new DOMParser().parseFromString(xhr.responseText, "text/html");
      const error = answer.getElementById("err-file");
      const field = file.closest(".field");
      let shown = document.getElementById("err-file");
      if (!shown && field) {
        shown = document.createElement("p");
        shown.id = "err-file";
        shown.className = "field-error";
        shown.setAttribute("role", "alert");
        field.append(shown);
      }
      if (field) field.classList.add("has-error");
      if (shown) shown.textContent = error ? error.textContent : "アップロードできませんでした（" + xhr.status + "）";
    });
    xhr.addEventListener("error", () => {
      if (button) button.disabled = false;
      box.hidden = true;
    });
    xhr.send(new FormData(form));
  });
});

// Prospect imports in progress: poll the job and move its progress bar.
document.addEventListener("DOMContentLoaded", () => {
  for (const row of document.querySelectorAll('tr[data-import][data-status="running"]')) {
    const id = row.dataset.import;
    const timer = setInterval(() => {
      fetch(`/operator/prospects/import/${id}.json`, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null))
        .then((job) => {
          if (!job) return;
          for (const key of ["rows_total", "rows_imported", "rows_duplicate", "rows_rejected"]) {
            const cell = row.querySelector(`[data-field="${key}"]`);
            if (cell) cell.textContent = Number(job[key]).toLocaleString("ja-JP");
          }
          const status = row.querySelector('[data-field="status"]');
          if (status) {
            status.textContent = label("import_status", job.status);
            if (job.failure_reason) {
              const reason = document.createElement("div");
              reason.className = "hint";
              reason.dataset.field = "reason";
              reason.textContent = job.failure_reason;
              status.append(reason);
            }
          }
          const done = job.rows_imported + job.rows_duplicate + job.rows_rejected;
          const bar = row.querySelector(".progress span");
          if (bar) bar.style.width = (job.status === "done" ? 100 : job.rows_total ? (done * 100) / job.rows_total : 0) + "%";
          if (job.status !== "running") { clearInterval(timer); row.dataset.status = job.status; }
        })
        .catch(() => {});
    }, 1000);
  }
});

// Chat: new messages of the thread appear without reloading (the chat API, polled).
document.addEventListener("DOMContentLoaded", () => {
  const chat = document.getElementById("chat");
  if (!chat) return;
  const me = Number(chat.dataset.me || 0);
  const id = chat.dataset.reservation;
  const poll = () => {
    const after = Number(chat.dataset.last || 0);
    fetch(`/api/v1/reservations/${id}/messages?after_id=${after}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (!data || !data.messages.length) return;
        const empty = document.getElementById("chat-empty");
        if (empty) empty.remove();
        for (const m of data.messages) {
          if (chat.querySelector(`[data-id="${m.id}"]`)) continue;
          const div = document.createElement("div");
          div.className = "msg" + (m.author_user_id === me ? " mine" : "");
          div.dataset.id = m.id;
          const small = document.createElement("small");
          const when = new Date(m.created_at).toLocaleString("ja-JP");
          small.textContent = `${m.author_name}（${label("role", m.author_role)}）${when}`;
          div.append(small, document.createTextNode(m.body));
          chat.append(div);
          chat.dataset.last = m.id;
        }
        chat.scrollTop = chat.scrollHeight;
      })
      .catch(() => {});
  };
  setInterval(poll, 3000);
});

// Dashboards marked data-refresh="N" reload every N seconds (the fleet view).
document.addEventListener("DOMContentLoaded", () => {
  const marked = document.querySelector("[data-refresh]");
  if (marked) setTimeout(() => window.location.reload(), Number(marked.dataset.refresh) * 1000);
});

// お知らせ: the number of unread notifications beside the menu entry, kept fresh.
document.addEventListener("DOMContentLoaded", () => {
  const link = document.querySelector('.nav a[href="/notifications"]');
  if (!link) return;
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.id = "unread-badge";
  badge.hidden = true;
  link.append(badge);
  const refresh = () => {
    fetch("/api/v1/notifications?per_page=1", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (!data) return;
        const unread = Number(data.unread || 0);
        badge.textContent = unread > 99 ? "99+" : String(unread);
        badge.hidden = unread === 0;
        badge.setAttribute("aria-label", `未読${unread}件`);
      })
      .catch(() => {});
  };
  refresh();
  setInterval(refresh, 30000);
});

// Draw the element with this id again from the page the server renders now (the detail page's
// parts that follow the counters: the chart, 反響).
function redrawFromPage(id) {
  return fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
    .then((r) => (r.ok ? r.text() : null))
    .then((html) => {
      if (!html) return;
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById(id);
      const current = document.getElementById(id);
      if (fresh && current) current.replaceWith(document.importNode(fresh, true));
    })
    .catch(() => {});
}

// The detail page's 1分あたりの送信数 follows the sends: when 送信済数 moves (at most every
// 15 s) and once a minute (the 30-minute window slides), the chart is drawn again from the
// page the server renders now.
document.addEventListener("DOMContentLoaded", () => {
  const chart = document.getElementById("spm-chart");
  const live = document.getElementById("live");
  if (!chart || !live) return;
  let lastSent = null;
  let lastDrawn = Date.now();
  let pending = false;
  const redraw = () => {
    if (pending) return;
    pending = true;
    lastDrawn = Date.now();
    redrawFromPage("spm-chart").finally(() => { pending = false; });
  };
  let scheduled = null;
  live.addEventListener("mikomi:counters", (event) => {
    const sent = Number(event.detail.sent);
    if (lastSent !== null && sent !== lastSent && !scheduled) {
      const wait = Math.max(0, 15000 - (Date.now() - lastDrawn));
      scheduled = setTimeout(() => { scheduled = null; redraw(); }, wait);
    }
    lastSent = sent;
  });
  setInterval(() => { if (!document.hidden) redraw(); }, 60000);
});

// The detail page's 反響 follows the counters: when an auto-reply, a reply, a refusal, a click
// or a send is counted, the section is drawn again from the page the server renders now (the
// rates are computed there, once), at most every 5 s.
document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (!live || !document.getElementById("responses")) return;
  const keys = ["auto_replies", "replies", "refusals", "clicks", "sent", "failed", "in_doubt"];
  let last = null;
  let scheduled = null;
  let lastDrawn = 0;
  const redraw = () => {
    lastDrawn = Date.now();
    redrawFromPage("responses");
  };
  live.addEventListener("mikomi:counters", (event) => {
    const now = keys.map((k) => event.detail[k]).join(",");
    if (last !== null && now !== last && !scheduled) {
      const wait = Math.max(0, 5000 - (Date.now() - lastDrawn));
      scheduled = setTimeout(() => { scheduled = null; redraw(); }, wait);
    }
    last = now;
  });
});
