// Small enhancements on every page. Progressive: every page works without them.
(function () {
  "use strict";

  // Tell the portal the browser's time zone (a cookie), so that times show in local time from
  // the next page on; without it they show in UTC.
  function rememberTimeZone() {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (error) { return; }
    if (!zone || !/^[A-Za-z0-9\/_+-]{1,64}$/.test(zone)) { return; }
    if (document.cookie.split("; ").indexOf("tz=" + zone) !== -1) { return; }
    document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
  }

  // On narrow screens the App tabs scroll sideways: bring the current one into view.
  function showCurrentTab() {
    var current = document.querySelector(".tab-group [aria-current=page]");
    if (!current) { return; }
    var group = current.parentElement;
    if (group.scrollWidth > group.clientWidth) {
      group.scrollLeft = current.offsetLeft - group.offsetLeft - 16;
    }
  }

  rememberTimeZone();
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", showCurrentTab);
  } else {
    showCurrentTab();
  }
}());
