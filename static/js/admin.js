// Django's SelectFilter (filter_horizontal: a team's members, a person's groups) labels
// its search boxes with an icon that carries an aria-label but no role, which ARIA does
// not allow on a plain span (axe: aria-prohibited-attr). Give each such icon the role of
// an image, so it may keep its label, and the label around it still names the box.
// SelectFilter builds the widgets on the window's load event: this runs just after.
window.addEventListener("load", function () {
  window.setTimeout(function () {
    document
      .querySelectorAll("span.help-tooltip[aria-label]:not([role])")
      .forEach(function (icon) {
        icon.setAttribute("role", "img");
      });
  }, 0);
});
