// Live preview of the Branding page. Progressive enhancement: the form works without it.
// Everything the provider types is set with textContent, never parsed as HTML.
(function () {
  "use strict";
  var form = document.getElementById("branding-form");
  var preview = document.getElementById("preview");
  if (!form || !preview) { return; }

  var COLOR = /^#[0-9A-Fa-f]{6}$/;
  // #RGB is saved as #RRGGBB (as the server does): the preview shows it the same way.
  function fullColor(text) {
    var typed = text.trim();
    if (/^#[0-9A-Fa-f]{3}$/.test(typed)) {
      typed = "#" + typed[1] + typed[1] + typed[2] + typed[2] + typed[3] + typed[3];
    }
    return typed.toUpperCase();
  }
  var MINIMUM_RATIO = 3.0;
  var colorInput = document.getElementById("id_theme_color");

  // The same WCAG 2 formulas as sessioncloud/portal/contrast.py.
  function channel(value) {
    var srgb = value / 255;
    return srgb <= 0.04045 ? srgb / 12.92 : Math.pow((srgb + 0.055) / 1.055, 2.4);
  }
  function luminance(color) {
    var r = parseInt(color.slice(1, 3), 16), g = parseInt(color.slice(3, 5), 16), b = parseInt(color.slice(5, 7), 16);
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  }
  function ratio(a, b) {
    var la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }
  function rounded(value) { return Math.round(value * 100) / 100; }

  function warningText(value, background, mode) {
    return "Against " + background + " this colour has a contrast of only " + value.toFixed(1) +
      ":1, so keypad digits and controls are hard to read in " + mode + " mode (aim for at least 3:1).";
  }

  function updateColor() {
    var color = fullColor(colorInput.value);
    if (!COLOR.test(color)) { return; }
    preview.style.setProperty("--theme", color);
    document.getElementById("contrast-swatch").style.background = color;
    var white = rounded(ratio(color, "#FFFFFF")), black = rounded(ratio(color, "#000000"));
    document.getElementById("contrast-white").textContent = white.toFixed(1) + ":1";
    document.getElementById("contrast-black").textContent = black.toFixed(1) + ":1";
    var box = document.getElementById("contrast-warnings");
    box.replaceChildren();
    [[white, "white", "light"], [black, "black", "dark"]].forEach(function (check) {
      if (check[0] < MINIMUM_RATIO) {
        var alert = document.createElement("div");
        alert.className = "alert warning";
        alert.textContent = warningText(check[0], check[1], check[2]);
        box.appendChild(alert);
      }
    });
    if (picker && picker.value.toLowerCase() !== color.toLowerCase()) { picker.value = color; }
  }

  function updateMenu() {
    var title = document.getElementById("id_help_menu_title").value;
    var titles = [];
    for (var i = 1; i <= 5; i++) {
      var linkTitle = document.getElementById("id_link_title_" + i).value.trim();
      var linkUrl = document.getElementById("id_link_url_" + i).value.trim();
      if (linkTitle || linkUrl) { titles.push(linkTitle); }
    }
    preview.querySelectorAll(".pv-help-title").forEach(function (node) { node.textContent = title; });
    preview.querySelectorAll(".pv-links").forEach(function (list) {
      list.replaceChildren();
      titles.forEach(function (text) {
        var item = document.createElement("li");
        item.textContent = text;
        list.appendChild(item);
      });
    });
  }

  // Logos: a chosen file shows at once; "remove" falls back to the App name (or the light logo).
  var savedSources = {};
  preview.querySelectorAll(".phone").forEach(function (phone) {
    savedSources[phone.dataset.mode] = phone.querySelector(".pv-logo").getAttribute("src") || "";
  });
  var chosen = { light: "", dark: "" };

  function fileUrl(input) {
    return input && input.files && input.files[0] ? URL.createObjectURL(input.files[0]) : "";
  }
  function checked(id) { var box = document.getElementById(id); return !!(box && box.checked); }

  function updateLogos() {
    var light = chosen.light || (checked("id_remove_logo") ? "" : savedLight());
    var darkOwn = chosen.dark || (checked("id_remove_logo_dark") ? "" : savedDarkOwn());
    showLogo("light", light);
    showLogo("dark", darkOwn || light);
  }
  function savedLight() { return savedSources.light; }
  function savedDarkOwn() {
    // Without a dark logo of its own the dark phone showed the light one.
    return document.getElementById("current-logo-dark") ? savedSources.dark : "";
  }
  function showLogo(mode, source) {
    var phone = preview.querySelector('.phone[data-mode="' + mode + '"]');
    var img = phone.querySelector(".pv-logo"), name = phone.querySelector(".pv-name");
    img.hidden = !source;
    name.hidden = !!source;
    if (source) { img.src = source; } else { img.removeAttribute("src"); }
  }

  ["logo", "logo_dark"].forEach(function (variant) {
    var input = document.getElementById("id_" + variant + "_file");
    if (!input) { return; }
    input.addEventListener("change", function () {
      chosen[variant === "logo" ? "light" : "dark"] = fileUrl(input);
      updateLogos();
    });
  });
  ["id_remove_logo", "id_remove_logo_dark"].forEach(function (id) {
    var box = document.getElementById(id);
    if (box) { box.addEventListener("change", updateLogos); }
  });

  // A native colour picker beside the text field, kept in step with it.
  var picker = null;
  if (colorInput && !colorInput.disabled) {
    picker = document.createElement("input");
    picker.type = "color";
    picker.setAttribute("aria-label", "Pick the theme colour");
    picker.style.marginLeft = "0.5rem";
    picker.style.verticalAlign = "middle";
    if (COLOR.test(fullColor(colorInput.value))) { picker.value = fullColor(colorInput.value); }
    colorInput.style.maxWidth = "10rem";
    colorInput.insertAdjacentElement("afterend", picker);
    picker.addEventListener("input", function () {
      colorInput.value = picker.value.toUpperCase();
      updateColor();
    });
  }

  form.addEventListener("input", function (event) {
    if (event.target === colorInput) { updateColor(); } else { updateMenu(); }
  });
  updateColor();
})();
