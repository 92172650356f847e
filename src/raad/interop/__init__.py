"""Standard interfaces: HL7 FHIR R4 resources (and, later, research exports)."""
