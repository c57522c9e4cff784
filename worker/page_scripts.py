"""The page scripts the driver runs in every frame (one ``evaluate`` each): JavaScript only.

Kept apart from :mod:`worker.driver` so the Python there reads as the flow of a send, and so
each script can be read (and changed) as one piece.
"""

from __future__ import annotations

# Numbers every annotatable element once (numbers stay stable across snapshots, so a selector
# from an earlier snapshot still finds its element) and marks what a person cannot see.
ANNOTATE_JS = """
(base) => {
  const w = window;
  if (w.__mkNext === undefined) w.__mkNext = base;
  const vw = Math.max(document.documentElement.scrollWidth, w.innerWidth);
  const vh = Math.max(document.documentElement.scrollHeight, w.innerHeight);
  const controls = new Set(['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON', 'LABEL', 'IFRAME', 'FORM']);
  // Widgets (Google-Forms-style radios, checkboxes, list boxes and div buttons) are fields
  // and buttons too: they feed hidden inputs from their click handlers.
  const els = document.querySelectorAll(
    'a, area, form, input, select, textarea, button, label, iframe, img, [role=radio], '
    + '[role=checkbox], [role=option], [role=listbox], [role=radiogroup], [role=button]');
  for (const el of els) {
    if (!el.hasAttribute('data-mk')) el.setAttribute('data-mk', String(w.__mkNext++));
    let hidden = false;
    if (el.tagName === 'INPUT' && (el.type || '').toLowerCase() === 'hidden') hidden = true;
    else if (el.tagName !== 'AREA') {
      const cs = getComputedStyle(el);
      if (cs.display === 'none' || cs.visibility === 'hidden' || cs.visibility === 'collapse') {
        hidden = true;
      } else if (el.checkVisibility && !el.checkVisibility(
          {opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true})) {
        hidden = true;
      } else if (controls.has(el.tagName) && el.tagName !== 'FORM') {
        const r = el.getBoundingClientRect();
        const sx = w.scrollX, sy = w.scrollY;
        if (r.width <= 1 || r.height <= 1) hidden = true;
        else if (r.right + sx <= 0 || r.bottom + sy <= 0 || r.left + sx >= vw || r.top + sy >= vh) {
          hidden = true;
        } else if (cs.clip === 'rect(0px, 0px, 0px, 0px)' || cs.clipPath === 'inset(50%)') {
          hidden = true;
        }
      }
    }
    if (hidden) el.setAttribute('data-mk-hidden', '1');
    else el.removeAttribute('data-mk-hidden');
  }
  return w.__mkNext;
}
"""

# One round trip per frame: annotate, then serialize the document as Playwright's
# frame.content() does (the doctype and the root element's outerHTML), with the title and,
# when asked, the text that notices are read from: the rendered text (small print under the
# submit button included) and the alt text of every shown image, which innerText leaves out
# (a 営業お断り notice can be a picture).
SNAPSHOT_JS = (
    "([base, withText]) => {\n  const annotate = "
    + ANNOTATE_JS.strip()
    + """;
  annotate(base);
  const d = document;
  const doctype = d.doctype ? new XMLSerializer().serializeToString(d.doctype) : '';
  return {
    html: doctype + (d.documentElement ? d.documentElement.outerHTML : ''),
    title: d.title,
    text: withText && d.body ? [d.body.innerText].concat(
      Array.from(d.querySelectorAll('img[alt], input[type=image][alt], area[alt]'))
        .filter(e => e.getAttribute('data-mk-hidden') !== '1')
        .map(e => e.getAttribute('alt').trim()).filter(a => a)).join('\\n') : '',
  };
}"""
)

# Sets every value of a plan in one call: the native setters (so frameworks that track values,
# such as React, notice), then the events a person's typing would fire.
FILL_JS = """
(actions) => {
  const setter = (el, prop) => {
    const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype
      : el instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
    return Object.getOwnPropertyDescriptor(proto, prop).set;
  };
  const fire = (el, types) => { for (const t of types) el.dispatchEvent(new Event(t, {bubbles: true})); };
  const out = [];
  for (const a of actions) {
    const el = document.querySelector(a.selector);
    if (!el) { out.push({selector: a.selector, ok: false, error: 'missing'}); continue; }
    if (a.op === 'fill' && el.getAttribute('data-mk-hidden') === '1') {
      // A text field nobody can see is a honeypot, whatever the plan says.
      out.push({selector: a.selector, ok: false, error: 'hidden'}); continue;
    }
    try {
      if (a.op === 'fill') {
        try { el.focus({preventScroll: true}); } catch (e) {}
        setter(el, 'value').call(el, a.value);
        fire(el, ['input', 'change']);
        if (document.activeElement === el) el.blur(); else fire(el, ['blur']);
      } else if (a.op === 'select') {
        const opts = Array.from(el.options || []);
        const opt = opts.find(o => o.value === a.value) || opts.find(o => o.text.trim() === a.value);
        if (!opt) { out.push({selector: a.selector, ok: false, error: 'no option'}); continue; }
        setter(el, 'value').call(el, opt.value);
        opt.selected = true;
        fire(el, ['input', 'change', 'blur']);
      } else if ((a.op === 'check' || a.op === 'uncheck') && el.hasAttribute('role')
          && !(el instanceof HTMLInputElement)) {
        // A widget (div role=radio/checkbox/option): its own click handler sets aria-checked
        // and the hidden input it feeds. A list box's option is picked after opening the box.
        const want = String(a.op === 'check');
        const state = () => el.getAttribute(el.getAttribute('role') === 'option'
          ? 'aria-selected' : 'aria-checked') || 'false';
        if (state() !== want) {
          const box = el.getAttribute('role') === 'option' ? el.closest('[role=listbox]') : null;
          if (box && box.getAttribute('aria-expanded') !== 'true') box.click();
          el.click();
        }
        out.push({selector: a.selector, ok: state() === want, value: state()});
        continue;
      } else if (a.op === 'check' || a.op === 'uncheck') {
        const want = a.op === 'check';
        if (el.checked !== want) el.click();
        if (el.checked !== want) {
          Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'checked').set.call(el, want);
          fire(el, ['input', 'change']);
        }
      } else if (a.op === 'click') {
        el.click();
      }
      const isBox = el.type === 'checkbox' || el.type === 'radio';
      out.push({selector: a.selector, ok: true, value: isBox ? String(el.checked) : String(el.value ?? '')});
    } catch (e) {
      out.push({selector: a.selector, ok: false, error: String(e)});
    }
  }
  return out;
}
"""

CLICK_JS = """
(sel) => {
  const el = document.querySelector(sel);
  if (!el) return 'missing';
  if (el.disabled) return 'disabled';
  el.scrollIntoView({block: 'center'});
  el.click();
  return 'clicked';
}
"""

# A cheap fingerprint of what the page shows: the URL and a count of DOM mutations kept by an
# observer (installed on first use in each document), so polling it costs the renderer no
# layout or text extraction. Any change after a click means the page reacted.
SIGNATURE_JS = """
() => {
  const w = window;
  if (w.__mkMutations === undefined) {
    w.__mkMutations = 0;
    w.__mkDocument = Math.random().toString(36).slice(2);  // a new document is a change
    new MutationObserver(records => { w.__mkMutations += records.length; }).observe(
      document, {subtree: true, childList: true, attributes: true, characterData: true});
  }
  return [location.href, document.readyState, w.__mkDocument, w.__mkMutations].join('|');
}
"""

CONTROLS_JS = """
() => document.querySelectorAll('textarea, select, input:not([type=hidden])').length
"""

# The browser's own constraint validation: a click on submit with an invalid required field
# sends nothing, so the engine asks first.
INVALID_JS = """
(sel) => {
  const form = document.querySelector(sel);
  if (!form || form.noValidate) return [];
  const els = form.tagName === 'FORM' ? Array.from(form.elements)
    : Array.from(form.querySelectorAll('input, select, textarea'));
  return els.filter(e => e.willValidate && !e.checkValidity())
    .map(e => ({name: e.name || e.id || '', message: e.validationMessage}));
}
"""

# Stops what the last send's page is still doing, so it writes nothing after the wipe.
QUIESCE_JS = """
(() => {
  const last = setTimeout(() => {}, 0);
  for (let id = 0; id <= last; id++) { clearTimeout(id); clearInterval(id); }
  window.onbeforeunload = null;
})()
"""

REQUEST_SUBMIT_JS = """
(sel) => {
  const form = document.querySelector(sel);
  if (!form || form.tagName !== 'FORM') return 'missing';
  form.requestSubmit ? form.requestSubmit() : form.submit();
  return 'clicked';
}
"""

# Every field value of the document in one string: polled until it stops changing, so an
# address lookup that rewrites fields after the postal code is typed has finished.
VALUES_JS = """
() => Array.from(document.querySelectorAll('input, select, textarea'),
  e => (e.type === 'checkbox' || e.type === 'radio') ? String(e.checked) : e.value).join('\\u0001')
"""

# The actions whose field no longer holds the planned value (a script rewrote it).
DRIFTED_JS = """
(actions) => actions.filter(a => {
  const el = document.querySelector(a.selector);
  if (!el) return false;
  if (a.op === 'select') {
    const opt = el.selectedOptions && el.selectedOptions[0];
    return !(el.value === a.value || (opt && opt.text.trim() === a.value));
  }
  return el.value !== a.value;
}).map(a => a.selector)
"""
