// The deploy modal: a new endpoint needs a name, an existing one a traffic share; show only what applies.
(function () {
  const endpoint = document.getElementById("id_endpoint");
  if (!endpoint) return;
  const name = document.getElementById("field-name");
  const description = document.getElementById("field-description");
  const traffic = document.getElementById("field-traffic_percent");
  function toggle() {
    const existing = endpoint.value !== "";
    if (name) name.hidden = existing;
    if (description) description.hidden = existing;
    if (traffic) traffic.hidden = !existing;
  }
  endpoint.addEventListener("change", toggle);
  toggle();
})();
