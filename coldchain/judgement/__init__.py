"""How readings are judged, once for every consumer (docs/design.md §11): the limits in force
and how products sharing a place combine (`limits`), which readings are temperatures
(`validity`), the excursion rule (`excursion`), and the alarm profiles that set limits up
(`profiles`). Pure: no catalog, store or transport."""
