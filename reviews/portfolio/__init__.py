"""The portfolio: every service at a glance for every reader.

- ``selectors``: the rows (filtered, sorted and counted in SQL from the reviews' stored
  summaries), the tiles, the heat map and the trends;
- ``forms``: the query string, checked; ``charts``: SVG line charts;
- ``snapshots``: the daily readiness snapshots behind the trends; ``tasks``: beat;
- ``views``: the page, the heat map, the CSV export and the printable report.
"""
