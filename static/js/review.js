// The review workspace's keyboard and in-place editors (progressive enhancement: every
// link still works without this file). j/k move between items, Enter or e opens the
// focused item's editor, 1-5 set its status, ? lists the keys. A link to #answer-N opens
// that item's editor.
(function () {
  "use strict";

  var STATUSES = ["not_started", "met", "partially_met", "not_met", "not_applicable"];

  function items() {
    return Array.prototype.slice.call(document.querySelectorAll(".preflight-item"));
  }

  function opener(item) {
    return item.querySelector(".preflight-row__open");
  }

  function slot(item) {
    return item.querySelector(".preflight-editor-slot");
  }

  function isOpen(item) {
    return slot(item).children.length > 0;
  }

  function currentItem() {
    var active = document.activeElement;
    return active && active.closest ? active.closest(".preflight-item") : null;
  }

  function move(step) {
    var all = items();
    if (!all.length) return;
    var index = all.indexOf(currentItem());
    var next = index === -1 ? (step > 0 ? 0 : all.length - 1) : index + step;
    if (next < 0 || next >= all.length) return;
    var link = opener(all[next]);
    link.focus();
    all[next].scrollIntoView({ block: "nearest" });
  }

  function open(item) {
    // Resolves once the editor is in the page.
    if (isOpen(item)) return Promise.resolve();
    var link = opener(item);
    return window.htmx.ajax("GET", link.getAttribute("hx-get"), {
      source: link,
      target: slot(item),
      swap: "innerHTML",
    });
  }

  function toggle(item) {
    if (isOpen(item)) {
      close(item);
    } else {
      open(item);
    }
  }

  function close(item) {
    slot(item).innerHTML = "";
    opener(item).setAttribute("aria-expanded", "false");
  }

  function setStatus(item, number) {
    var status = STATUSES[number - 1];
    open(item).then(function () {
      var select = item.querySelector("select[name$='-status']");
      if (!select || select.value === status) return;
      select.value = status;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable], dialog");
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var dialog = document.getElementById("keys-dialog");
    var item = currentItem();
    if (event.key === "?" && dialog) {
      event.preventDefault();
      dialog.showModal();
    } else if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      move(event.key === "j" ? 1 : -1);
    } else if (event.key === "e" && item) {
      event.preventDefault();
      toggle(item);
    } else if (/^[1-5]$/.test(event.key) && item && document.querySelector("[data-can-edit]")) {
      event.preventDefault();
      setStatus(item, Number(event.key));
    }
  });

  // A second click on an open item's title closes its editor instead of reloading it.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var link = event.detail.elt;
    if (!link.classList || !link.classList.contains("preflight-row__open")) return;
    var item = link.closest(".preflight-item");
    if (item && isOpen(item) && event.detail.requestConfig.verb === "get") {
      event.preventDefault();
      close(item);
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target.classList && target.classList.contains("preflight-editor-slot")) {
      var item = target.closest(".preflight-item");
      opener(item).setAttribute("aria-expanded", isOpen(item) ? "true" : "false");
      // htmx wires the new editor's forms up as the swap settles, a moment after it
      // shows: a change made in that moment would not be saved. Wire them up now
      // (processing twice is harmless).
      window.htmx.process(target);
    }
  });

  function openFromFragment() {
    var match = /^#answer-(\d+)$/.exec(window.location.hash);
    if (!match) return;
    var item = document.getElementById("answer-" + match[1]);
    if (item && document.querySelector(".preflight-overview")) {
      open(item).then(function () {
        item.scrollIntoView();
        opener(item).focus();
      });
    }
  }

  function start() {
    var button = document.querySelector("[data-keys-open]");
    var dialog = document.getElementById("keys-dialog");
    if (button && dialog) {
      button.hidden = false;
      button.addEventListener("click", function () {
        dialog.showModal();
      });
    }
    if (window.htmx) openFromFragment();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  window.addEventListener("hashchange", openFromFragment);
})();
