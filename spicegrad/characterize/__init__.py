"""Device characterisation: response tables and curves of twins, with ngspice spot checks."""
