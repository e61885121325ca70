package simse

// DefaultInventoryFile is the built-in inventory as a YAML file: an example
// of the inventory file format.
func DefaultInventoryFile() []byte { return append([]byte(nil), defaultInventory...) }
