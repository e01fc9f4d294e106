// Tells the portal the browser's time zone (a cookie), so that times show in local time from
// the next page on. Progressive enhancement: without it, times show in UTC.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (error) { return; }
  if (!zone || !/^[A-Za-z0-9\/_+-]{1,64}$/.test(zone)) { return; }
  if (document.cookie.split("; ").indexOf("tz=" + zone) !== -1) { return; }
  document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
}());
