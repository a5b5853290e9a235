// Progressive enhancement for the inbox: live updates (server-sent events),
// keyboard shortcuts, the SMS segment count, knowledge-bank answers and
// reply drafts kept in the browser. Every page works without it.
"use strict";
(function () {
  const page = document.querySelector("[data-page]");
  const kind = page ? page.dataset.page : "";

  // --- live updates -------------------------------------------------------
  function live(onChange) {
    if (!window.EventSource) return;
    // From the change the page was rendered at: nothing in between is lost.
    const es = new EventSource("/events?since=" + encodeURIComponent(document.body.dataset.since || "0"));
    es.addEventListener("change", (ev) => {
      try { onChange(JSON.parse(ev.data)); } catch (e) { /* ignore a bad event */ }
    });
  }

  if (kind === "list") {
    const shown = new Set(Array.from(document.querySelectorAll(".conv")).map((li) => li.dataset.id));
    const ids = Array.from(shown);
    try { sessionStorage.setItem("wasl-list", JSON.stringify({ url: location.pathname + location.search, ids: ids })); } catch (e) {}
    const fresh = new Set();
    const banner = document.getElementById("new-banner");
    live((c) => {
      // Only messages, and only for conversations the list does not show on
      // top already: the list does not jump; it says "n new".
      if (c.kind !== "message" && c.kind !== "conversation") return;
      const first = document.querySelector(".conv");
      if (first && first.dataset.id === String(c.conversation_id) && c.kind === "conversation") return;
      fresh.add(c.conversation_id);
      const a = banner.querySelector("a");
      a.textContent = banner.dataset.template.replace("{n}", String(fresh.size));
      a.href = location.pathname + location.search;
      banner.hidden = false;
    });
  }

  if (kind === "conversation") {
    const id = page.dataset.id;
    const timeline = document.getElementById("timeline");
    let pending = false, again = false;
    async function refresh() {
      // One fetch at a time; a change during it makes one more.
      if (pending) { again = true; return; }
      pending = true;
      try {
        do {
          again = false;
          const r = await fetch("/conversations/" + id + "/timeline" + location.search, { headers: { "Accept": "text/html" } });
          if (r.ok) timeline.innerHTML = await r.text();
        } while (again);
      } finally { pending = false; }
    }
    const mine = new Set(Array.from(document.querySelectorAll(".item")).map((li) => li.dataset.conversation));
    mine.add(id);
    live((c) => { if (mine.has(String(c.conversation_id))) refresh(); });
  }

  // --- reply composer --------------------------------------------------------
  const body = document.getElementById("reply-body");
  if (body) {
    const key = body.dataset.draft;
    if (page && page.dataset.sent === "1") {
      try { localStorage.removeItem(key); } catch (e) {}
    } else if (!body.value) {
      try { body.value = localStorage.getItem(key) || ""; } catch (e) {}
    }
    body.addEventListener("input", () => { try { localStorage.setItem(key, body.value); } catch (e) {} });

    const out = document.getElementById("segments");
    if (out) {
      const update = () => {
        const s = segments(body.value);
        out.textContent = out.dataset.template.replace("{n}", String(s.n)).replace("{c}", String(s.units));
      };
      body.addEventListener("input", update);
      update();
    }
    const pick = document.getElementById("bank-answer");
    if (pick) {
      pick.addEventListener("change", async () => {
        if (!pick.value) return;
        const r = await fetch(pick.dataset.url + "?topic=" + encodeURIComponent(pick.value));
        if (r.ok) {
          const text = await r.text();
          body.value = body.value ? body.value + "\n\n" + text : text;
          body.dispatchEvent(new Event("input"));
          body.focus();
        }
        pick.value = "";
      });
    }
  }

  // SMS segments as carriers count them (3GPP TS 23.038): GSM-7 when every
  // character is in its alphabet, else UCS-2 (UTF-16 units).
  const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  const gsmExt = "^{}\\[~]|€\f";
  function segments(text) {
    if (!text) return { n: 0, units: 0 };
    let gsm = true;
    for (const ch of text) { if (!gsmBasic.includes(ch) && !gsmExt.includes(ch)) { gsm = false; break; } }
    const size = (ch) => gsm ? (gsmExt.includes(ch) ? 2 : 1) : ch.length;
    const single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    let total = 0;
    for (const ch of text) total += size(ch);
    if (total <= single) return { n: 1, units: total };
    let n = 1, used = 0;
    for (const ch of text) { const s = size(ch); if (used + s > multi) { n++; used = 0; } used += s; }
    return { n: n, units: total };
  }

  // --- keyboard shortcuts ----------------------------------------------------
  // j / k: next / previous conversation; Enter opens it (in the list);
  // r: reply; c: close; /: search.
  function typing(el) { return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable); }
  let selected = -1;
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) return;
    if (kind === "list") {
      const rows = Array.from(document.querySelectorAll(".conv"));
      if (ev.key === "j" || ev.key === "k") {
        if (!rows.length) return;
        selected = Math.max(0, Math.min(rows.length - 1, selected + (ev.key === "j" ? 1 : -1)));
        rows.forEach((r, i) => r.classList.toggle("selected", i === selected));
        rows[selected].querySelector("a").focus();
        ev.preventDefault();
      } else if (ev.key === "/") {
        document.getElementById("search").focus();
        ev.preventDefault();
      }
    } else if (kind === "conversation") {
      if (ev.key === "r") { document.getElementById("reply-body").focus(); ev.preventDefault(); }
      else if (ev.key === "c") { const f = document.getElementById("close"); f.scrollIntoView(); f.querySelector("input").focus(); ev.preventDefault(); }
      else if (ev.key === "j" || ev.key === "k") {
        let list;
        try { list = JSON.parse(sessionStorage.getItem("wasl-list") || "null"); } catch (e) {}
        if (!list) return;
        const i = list.ids.indexOf(page.dataset.id);
        const next = list.ids[i + (ev.key === "j" ? 1 : -1)];
        if (i >= 0 && next) location.href = "/conversations/" + next;
      }
    }
  });
})();
