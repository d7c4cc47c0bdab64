"""How readings are judged, once for every consumer (docs/design.md §11): the limits in force
and how products sharing a place combine (`limits`), which readings are temperatures
(`validity`), and the excursion rule (`excursion`). Pure: no catalog, store or transport."""
