// Forms with data-confirm="question" ask before they submit. An event listener instead of inline onsubmit
// handlers, which the Content-Security-Policy (script-src 'self') does not allow.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : null;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
}, true);
