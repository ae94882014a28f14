// The user-api console's one script: the live events view. New events
// come from /admin/events/stream (Server-Sent Events, authorized by the
// console's cookie) and are added on top of the table. Every value is set
// with textContent, never parsed as HTML. The page works without it.
(function () {
  "use strict";
  var table = document.getElementById("events");
  var live = document.getElementById("live");
  if (!table || !live || !window.EventSource) {
    return;
  }
  var body = table.tBodies[0];
  var after = table.getAttribute("data-after");
  var url = "/admin/events/stream" + (after ? "?after=" + encodeURIComponent(after) : "");
  var source = new EventSource(url);

  function cell(row, text) {
    row.insertCell(-1).textContent = text;
  }

  function details(data) {
    if (data.changed && data.changed.length) {
      return "changed: " + data.changed.join(", ");
    }
    return data.reason ? "reason: " + data.reason : "";
  }

  function add(message) {
    var event;
    try {
      event = JSON.parse(message.data);
    } catch (e) {
      return;
    }
    var data = event.data || {};
    var user = data.user || {};
    var row = body.insertRow(0);
    row.className = "new";
    cell(row, String(event.seq));
    cell(row, String(event.timestamp));
    cell(row, String(event.type));
    var link = document.createElement("a");
    link.href = "/admin/users/" + encodeURIComponent(String(user.id));
    link.textContent = user.email ? String(user.email) : "#" + user.id;
    row.insertCell(-1).appendChild(link);
    cell(row, details(data));
    while (body.rows.length > 200) {
      body.deleteRow(-1);
    }
    var none = document.getElementById("no-events");
    if (none) {
      none.remove();
    }
  }

  ["user.created", "user.updated", "user.deleted", "user.signed_out"].forEach(function (type) {
    source.addEventListener(type, add);
  });
  source.onopen = function () {
    live.textContent = "Live: new events appear on top.";
  };
  source.onerror = function () {
    live.textContent = source.readyState === EventSource.CLOSED
      ? "Stopped. Reload the page (you may need to sign in again)."
      : "Reconnecting…";
  };
})();
