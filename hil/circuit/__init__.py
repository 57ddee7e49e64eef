"""The BC547 P1 adapter on paper: SPICE timing (ngspice), a component sweep,
the edge delays the virtual rig's line model uses, and the drawings in
docs/circuit (schemdraw).

    python -m hil.circuit          regenerate docs/circuit (check, sweep, plots, SVGs)
"""
