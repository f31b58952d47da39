// Delivery route form: up/down buttons to reorder the mail routing hosts. The textarea stays
// the source of truth, and works on its own without JavaScript; the list mirrors its lines.
(function () {
  "use strict";

  var textarea = document.getElementById("id_hosts_text");
  if (!textarea) return;
  var field = document.getElementById("div_id_hosts_text") || textarea;

  var list = document.createElement("ol");
  list.id = "route-hosts-order";
  list.className = "list-group list-group-numbered mb-3";
  list.setAttribute("aria-label", "Order of the mail routing hosts");
  field.insertAdjacentElement("afterend", list);

  function hosts() {
    return textarea.value
      .split(/\r?\n/)
      .map(function (line) { return line.trim(); })
      .filter(function (line) { return line !== ""; });
  }

  function moveButton(host, index, step, last) {
    var button = document.createElement("button");
    var word = step < 0 ? "up" : "down";
    button.type = "button";
    button.className = "btn btn-sm btn-outline-secondary ms-1";
    button.dataset.index = String(index);
    button.dataset.step = String(step);
    button.title = "Move " + word;
    button.setAttribute("aria-label", "Move " + host + " " + word);
    button.disabled = step < 0 ? index === 0 : index === last;
    var icon = document.createElement("i");
    icon.className = "bi bi-arrow-" + word;
    icon.setAttribute("aria-hidden", "true");
    button.appendChild(icon);
    return button;
  }

  function render() {
    var items = hosts();
    list.replaceChildren();
    list.hidden = items.length < 2;
    items.forEach(function (host, index) {
      var item = document.createElement("li");
      item.className = "list-group-item d-flex align-items-center";
      var name = document.createElement("span");
      name.className = "mono ms-2 me-auto";
      name.textContent = host;
      item.appendChild(name);
      item.appendChild(moveButton(host, index, -1, items.length - 1));
      item.appendChild(moveButton(host, index, 1, items.length - 1));
      list.appendChild(item);
    });
  }

  list.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-step]");
    if (!button || button.disabled) return;
    var items = hosts();
    var from = Number(button.dataset.index);
    var to = from + Number(button.dataset.step);
    if (to < 0 || to >= items.length) return;
    var moved = items.splice(from, 1)[0];
    items.splice(to, 0, moved);
    textarea.value = items.join("\n");
    render();
    // Keep the keyboard focus on the host that moved.
    var again = list.querySelector(
      'button[data-index="' + to + '"][data-step="' + button.dataset.step + '"]'
    );
    var target = again && !again.disabled
      ? again
      : list.children[to].querySelector("button:not(:disabled)");
    if (target) target.focus();
  });

  textarea.addEventListener("input", render);
  render();
})();
