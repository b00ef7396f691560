// The dataset creation wizard: steps, the upload with a progress bar, the live preview and the review.
(function () {
  var form = document.getElementById("wizard");
  if (!form) return;
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var state = {uploadId: null, previewUrl: null, parquet: false, fileName: null, fileSize: null, format: null};

  function $(sel) { return form.querySelector(sel) || document.querySelector(sel); }

  function show(step) {
    step = String(step);
    document.querySelectorAll(".wizard-panel").forEach(function (p) { p.hidden = p.dataset.panel !== step; });
    document.querySelectorAll("#wizard-steps .step").forEach(function (s) {
      s.classList.toggle("active", s.dataset.step === step);
      s.classList.toggle("done", Number(s.dataset.step) < Number(step));
    });
    if (step === "5") fillReview();
    window.scrollTo(0, 0);
  }

  form.querySelectorAll("[data-next]").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = Number(button.dataset.next);
      var current = Number(button.closest(".wizard-panel").dataset.panel);
      if (target > current && current === 1) {
        var name = $("#id_name");
        var empty = !name.value.trim();
        name.classList.toggle("is-invalid", empty);
        $("#name-error").hidden = !empty;
        if (empty) return;
      }
      if (target > current && current === 3 && $("#preview-ok").value !== "1") return;
      show(target);
    });
  });

  // --- Upload with progress --------------------------------------------------------------------------------
  var input = $("#file-input");
  var bar = $("#upload-progress");
  var barInner = bar.querySelector(".progress-bar");
  var errorBox = $("#upload-error");
  var doneBox = $("#upload-done");

  function fail(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    bar.hidden = true;
    $("#upload-status").textContent = "";
  }

  function humanBytes(n) {
    var units = ["bytes", "KB", "MB", "GB", "TB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  input.addEventListener("change", function () {
    var file = input.files[0];
    errorBox.hidden = true;
    doneBox.hidden = true;
    $("#to-settings").disabled = true;
    if (!file) return;
    if (state.uploadId) discard();
    var max = Number(form.dataset.maxBytes);
    if (file.size > max) {
      fail("The file is " + humanBytes(file.size) + ", larger than the upload limit of " + form.dataset.maxHuman +
           "; compress it with gzip, convert it to Parquet, or drop columns or rows you do not need.");
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.uploadUrl);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    bar.hidden = false;
    barInner.style.width = "0%";
    barInner.textContent = "0%";
    var started = Date.now();
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      var pct = Math.round(100 * e.loaded / e.total);
      barInner.style.width = pct + "%";
      barInner.textContent = pct + "%";
      var seconds = (Date.now() - started) / 1000;
      $("#upload-status").textContent = humanBytes(e.loaded) + " of " + humanBytes(e.total) +
        (seconds > 0.5 ? " · " + humanBytes(e.loaded / seconds) + "/s" : "");
    });
    xhr.upload.addEventListener("load", function () {
      $("#upload-status").textContent = "Uploaded; checking the file…";
    });
    xhr.addEventListener("load", function () {
      var body;
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {error: "The upload failed (HTTP " + xhr.status + ")."}; }
      if (xhr.status !== 200) { fail(body.error || ("The upload failed (HTTP " + xhr.status + ").")); return; }
      barInner.style.width = "100%";
      barInner.textContent = "100%";
      barInner.classList.remove("progress-bar-animated");
      $("#upload-status").textContent = "";
      state.uploadId = body.id;
      state.previewUrl = body.preview_url;
      state.parquet = body.parquet;
      state.fileName = body.name;
      state.fileSize = body.size;
      state.format = body.format;
      $("#upload-id").value = body.id;
      doneBox.textContent = "Uploaded " + body.name + " (" + body.size + "): " + body.format + ".";
      doneBox.hidden = false;
      $("#to-settings").disabled = false;
      applySettings(body.settings);
      refreshPreview();
      show(3);
    });
    xhr.addEventListener("error", function () { fail("The connection broke during the upload; try again."); });
    xhr.send(file);
  });

  function applySettings(s) {
    $("#id_delimiter").value = s.delimiter;
    $("#id_other_delimiter").value = s.other_delimiter || "";
    $("#id_encoding").value = s.encoding;
    $("#id_header").checked = !!s.header;
    $("#id_skip_rows").value = s.skip_rows;
    $("#id_quote_char").value = s.quote_char;
    document.querySelectorAll("#settings-fields .mb-3").forEach(function (el) { el.hidden = state.parquet; });
    toggleOther();  // after the loop above, which would show the other-delimiter field again
    $("#settings-hint").textContent = state.parquet
      ? "Parquet files carry their own column names and types: there is nothing to set."
      : "Detected from the file; change any setting and the preview follows.";
  }

  function toggleOther() {
    var other = document.getElementById("field-other_delimiter");
    if (other) other.hidden = state.parquet || $("#id_delimiter").value !== "other";
  }

  // --- Live preview ----------------------------------------------------------------------------------------
  function refreshPreview() {
    if (!state.previewUrl) return;
    var values = {};
    ["delimiter", "other_delimiter", "encoding", "skip_rows", "quote_char"].forEach(function (n) {
      values[n] = $("#id_" + n).value;
    });
    if ($("#id_header").checked) values.header = "on";
    $("#preview-ok").value = "0";
    $("#to-schema").disabled = true;
    htmx.ajax("POST", state.previewUrl, {target: "#preview", swap: "innerHTML", values: values}).then(function () {
      $("#to-schema").disabled = $("#preview-ok").value !== "1";
    });
  }

  var settingsBox = document.getElementById("settings-fields");
  settingsBox.addEventListener("change", function (e) {
    if (e.target.id === "id_delimiter") toggleOther();
    refreshPreview();
  });
  toggleOther();

  // --- The whole-file type check ----------------------------------------------------------------------------
  // When the background check ends, its types replace the first-rows guess: the badge, the "detected" value the
  // server compares overrides with, and the type picker unless the user already chose another type.
  function applyScan(box) {
    var data = box.querySelector("#type-scan-types");
    if (!data || box.dataset.applied) return;
    box.dataset.applied = "1";
    var types = JSON.parse(data.textContent), changed = [];
    document.querySelectorAll("#schema select[data-column]").forEach(function (select) {
      var index = select.name.split("-")[1];
      var kind = types[select.dataset.column];
      var detected = form.querySelector("input[name=col-" + index + "-detected]");
      if (!kind || !detected || detected.value === kind) return;
      var badge = form.querySelector("[data-detected-for='" + index + "']");
      var was = badge.parentNode.querySelector(".ds-type-was");
      if (select.value === detected.value) select.value = kind;
      was.textContent = "first rows suggested " + detected.value;
      was.hidden = false;
      badge.className = "badge ds-type ds-type-" + kind + " ds-type-changed";
      badge.textContent = kind;
      detected.value = kind;
      changed.push(select.dataset.column);
    });
    var note = box.querySelector(".ds-type-scan-changes");
    if (note && changed.length) {
      note.textContent = " " + changed.length + (changed.length === 1 ? " column differs" : " columns differ") +
        " from the first-rows guess and " + (changed.length === 1 ? "is" : "are") + " marked: " + changed.join(", ") + ".";
    }
  }
  document.body.addEventListener("htmx:load", function (e) {
    var box = e.detail.elt.id === "type-scan" ? e.detail.elt : e.detail.elt.querySelector && e.detail.elt.querySelector("#type-scan");
    if (box) applyScan(box);
  });

  // --- Review ------------------------------------------------------------------------------------------------
  function row(dl, label, value) {
    var dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.className = "col-sm-4";
    dd.className = "col-sm-8";
    dt.textContent = label;
    dd.textContent = value;
    dl.appendChild(dt);
    dl.appendChild(dd);
  }

  function fillReview() {
    var dl = $("#review");
    dl.innerHTML = "";
    row(dl, "Name", $("#id_name").value.trim());
    if ($("#id_description").value.trim()) row(dl, "Description", $("#id_description").value.trim());
    if ($("#id_tags").value.trim()) row(dl, "Tags", $("#id_tags").value.trim());
    row(dl, "File", state.fileName ? state.fileName + " (" + state.fileSize + ")" : "none uploaded yet");
    var summary = document.querySelector("[data-testid=preview-summary]");
    row(dl, "Read as", summary ? summary.textContent.split("·")[0].trim() : "—");
    var overrides = [], excluded = [];
    document.querySelectorAll("#schema select[data-column]").forEach(function (select) {
      var index = select.name.split("-")[1];
      var detected = form.querySelector("input[name=col-" + index + "-detected]").value;
      if (select.value !== detected) overrides.push(select.dataset.column + " → " + select.value);
      if (!form.querySelector("input[name=col-" + index + "-include]").checked) excluded.push(select.dataset.column);
    });
    row(dl, "Type overrides", overrides.length ? overrides.join(", ") : "none");
    row(dl, "Excluded columns", excluded.length ? excluded.join(", ") : "none");
  }

  // --- Cancel ------------------------------------------------------------------------------------------------
  function discard() {
    if (!state.uploadId) return;
    fetch(state.previewUrl.replace(/preview\/$/, "discard/"), {method: "POST", headers: {"X-CSRFToken": csrf}, keepalive: true});
    state.uploadId = null;
  }
  document.getElementById("wizard-cancel").addEventListener("click", discard);
})();
