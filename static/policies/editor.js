// Delivery policy editor: add and remove condition/action rows (Django formsets) and show
// only the parameter inputs of each row's kind. Plain JavaScript, no dependencies.
(function () {
  "use strict";

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }

  var PARAMS = { condition: readJSON("condition-params"), action: readJSON("action-params") };
  var PLACEHOLDERS = {
    sender_ip: "127.0.0.1\n10.0.0.0/8",
    sender_address: "secureMailer*@yourdomain.com",
    recipient_address: "*@partner.example",
    header: "X-SecureMailNotification\nX-Priority: 1*",
    tags_any: "Secure Collaboration: PURL",
    tags_none: "Secure Collaboration: PURL",
    subject: "*confidential*",
    attachment: "*.pdf\napplication/zip"
  };

  function rowParams(row, kind) {
    var isAction = row.querySelector("[data-param=profile]") !== null;
    var table = isAction ? PARAMS.action : PARAMS.condition;
    return table[kind] || [];
  }

  function showParams(row) {
    var select = row.querySelector("select[data-role=kind]");
    if (!select) return;
    var kind = select.value;
    var wanted = rowParams(row, kind);
    row.querySelectorAll("[data-param]").forEach(function (cell) {
      cell.hidden = kind === "" || wanted.indexOf(cell.dataset.param) < 0;
    });
    var values = row.querySelector("[data-param=values] textarea");
    if (values) values.placeholder = PLACEHOLDERS[kind] || "";
  }

  function visibleRows(section) {
    return Array.prototype.filter.call(
      section.querySelectorAll("[data-rows] > [data-row]"),
      function (row) { return !row.hidden; }
    );
  }

  // The first condition of a section has no "and"/"or" before it.
  function refreshJoins(section) {
    visibleRows(section).forEach(function (row, index) {
      var join = row.querySelector("[data-join]");
      if (join) join.style.visibility = index === 0 ? "hidden" : "visible";
    });
  }

  function wireRow(section, row) {
    var select = row.querySelector("select[data-role=kind]");
    if (select) select.addEventListener("change", function () { showParams(row); });
    var remove = row.querySelector("[data-remove]");
    if (remove) {
      remove.addEventListener("click", function () {
        var del = row.querySelector("input[name$='-DELETE']");
        if (del) del.checked = true;
        row.hidden = true;
        refreshJoins(section);
      });
    }
    var del = row.querySelector("input[name$='-DELETE']");
    if (del && del.checked) row.hidden = true;
    showParams(row);
  }

  function addRow(section) {
    var prefix = section.dataset.prefix;
    var total = section.querySelector("input[name='" + prefix + "-TOTAL_FORMS']");
    var index = parseInt(total.value, 10);
    var html = section.querySelector("template[data-empty]").innerHTML.replace(/__prefix__/g, index);
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    section.querySelector("[data-rows]").appendChild(row);
    total.value = index + 1;
    wireRow(section, row);
    refreshJoins(section);
    var kind = row.querySelector("select[data-role=kind]");
    if (kind) kind.focus();
  }

  document.querySelectorAll("[data-formset]").forEach(function (section) {
    section.querySelectorAll("[data-rows] > [data-row]").forEach(function (row) {
      wireRow(section, row);
    });
    section.querySelector("[data-add]").addEventListener("click", function () { addRow(section); });
    refreshJoins(section);
  });
})();
