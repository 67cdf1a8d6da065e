// The new-service form: the address (slug) follows the name as it is typed, until the
// user edits the address themselves. The server makes the same address from a blank one
// (reviews.forms.ServiceForm.slug_from_name), so the form works without this script.
(function () {
  "use strict";

  var MAX_LENGTH = 80;

  // Django's slugify (ASCII letters and digits, dashes between words), with dashes for
  // underscores, as the server does.
  function slugFromName(name) {
    var slug = name
      .normalize("NFKD")
      .replace(/[^\x00-\x7F]/g, "")
      .toLowerCase()
      .replace(/[^\w\s-]/g, "")
      .replace(/[-\s_]+/g, "-")
      .replace(/^-+|-+$/g, "");
    return slug.slice(0, MAX_LENGTH).replace(/-+$/, "");
  }

  document.querySelectorAll("input[data-slug-from]").forEach(function (slug) {
    var name = document.getElementById(slug.getAttribute("data-slug-from"));
    if (!name || slug.disabled) {
      return;
    }
    // Following the name while the address is blank or is what the name gives (a form
    // sent back with errors keeps both).
    var following = slug.value === "" || slug.value === slugFromName(name.value);

    name.addEventListener("input", function () {
      if (following) {
        slug.value = slugFromName(name.value);
      }
    });
    slug.addEventListener("input", function () {
      // An address typed by hand stays; emptied, it follows the name again.
      following = slug.value === "";
    });
  });
})();
