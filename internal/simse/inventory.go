package simse

import (
	_ "embed"
	"fmt"
	"os"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

// DefaultDuration is how long an operation runs unless the inventory says
// otherwise.
const DefaultDuration = 3 * time.Second

// Inventory is what the simulated SE manages: CPCs and, under each, its
// logical partitions (classic mode) or partitions (DPM mode). ParseInventory
// returns one with names and target names in upper case; New validates one
// built in code the same way.
type Inventory struct {
	// Console is the HMC the simulated SE answers Query API Version as:
	// its hmc-name and hmc-version; empty fields take bcpii's defaults.
	Console Console
	CPCs    []CPC
}

// Console names the HMC the simulated SE stands for.
type Console struct {
	// Name is hmc-name; empty means bcpii.DefaultHMCName.
	Name string
	// Version is hmc-version, v.r.m; empty means bcpii.DefaultHMCVersion.
	Version string
}

// version is the Query API Version answer of c, at the API level the
// gateway serves.
func (c Console) version() bcpii.ConsoleVersion {
	v := bcpii.DefaultConsoleVersion()
	if c.Name != "" {
		v.Name = c.Name
	}
	if c.Version != "" {
		v.Version = c.Version
	}
	return v
}

// CPC is a central processor complex.
type CPC struct {
	Name string
	// ObjectID is the {cpc-id} of /api/cpcs/{cpc-id}.
	ObjectID string
	// TargetName is the CPC's BCPii name, NETID.NAU.
	TargetName string
	// Status is operating, not-operating or no-power.
	Status string
	// DPMEnabled says the CPC runs in DPM mode: it has Partitions and takes
	// start and stop. Otherwise it has LogicalPartitions.
	DPMEnabled bool
	// Operations tunes start and stop, by operation name.
	Operations map[string]Operation
	// LogicalPartitions of a classic CPC.
	LogicalPartitions []LPAR
	// Partitions of a DPM CPC.
	Partitions []Partition
	// The activation profiles of a classic CPC. New adds an image profile
	// named after each logical partition that has none (not loading at
	// activation), and a reset profile DEFAULT if there is none.
	ImageProfiles []ImageProfile
	LoadProfiles  []LoadProfile
	ResetProfiles []ResetProfile
	// Adapters and StorageGroups of a DPM CPC. A virtual switch is made
	// for each OSA (osd) and HiperSockets adapter, as DPM makes them.
	Adapters      []Adapter
	StorageGroups []StorageGroup
	// CapacityRecords are the CPC's temporary-capacity records.
	CapacityRecords []CapacityRecord
	// Properties set data-model properties (classes.go) to other values
	// than the SE's defaults: a description, processor counts, ...
	Properties map[string]any
}

// Adapter is an adapter of a DPM CPC.
type Adapter struct {
	Name     string
	ObjectID string
	// AdapterID is the PCHID, 3 hexadecimal digits.
	AdapterID string
	// Family is adapter-family (osa, ficon, roce, hipersockets, crypto,
	// accelerator); Type its type (osd, fcp, roce, hipersockets, ...).
	Family, Type string
	// Properties set other data-model properties.
	Properties map[string]any
}

// StorageGroup is a storage group of a DPM CPC.
type StorageGroup struct {
	Name     string
	ObjectID string
	// Type is fcp, fc or nvme; empty means fcp.
	Type string
	// Properties set other data-model properties.
	Properties map[string]any
}

// ImageProfile is an image activation profile. On an SE it activates the
// logical partition of its name and, with LoadAtActivation, loads it.
type ImageProfile struct {
	// Name is 1 to 16 characters A-Z 0-9.
	Name        string
	Description string
	// LoadAtActivation makes activation load the partition too, from
	// LoadAddress with LoadParameter: it ends operating rather than
	// not-operating.
	LoadAtActivation bool
	// OperatingMode is the HMC's operating-mode; empty means general. The
	// modes ssc and zaware load at activation whatever LoadAtActivation
	// says, as on an SE.
	OperatingMode string
	LoadAddress   string
	LoadParameter string
}

// LoadProfile is a load activation profile: activating a logical
// partition with it activates the partition with its own image profile and
// loads it from LoadAddress.
type LoadProfile struct {
	Name          string
	Description   string
	LoadAddress   string
	LoadParameter string
}

// ResetProfile is a reset activation profile, which activates the CPC.
type ResetProfile struct {
	Name        string
	Description string
}

// LPAR is a logical partition of a classic-mode CPC. Its target name is the
// CPC's followed by a dot and its name.
type LPAR struct {
	// Name is 1 to 8 characters A-Z 0-9, starting with a letter.
	Name     string
	ObjectID string
	// Status is not-activated, not-operating, operating or exceptions.
	Status string
	// Operations tunes activate, deactivate, load, stop, start,
	// reset-normal, reset-clear and psw-restart.
	Operations map[string]Operation
	// NextActivationProfile is the profile activate uses when the request
	// names none; empty means the partition's own name.
	NextActivationProfile string
	// LastUsedLoadAddress and LastUsedLoadParameter are what load uses
	// when the request gives no load address.
	LastUsedLoadAddress   string
	LastUsedLoadParameter string
	// BCPii are the partition's BCPii permissions; nil permits everything
	// (bcpii.AllowAll).
	BCPii *bcpii.Permissions
	// Properties set data-model properties to other values than the SE's
	// defaults.
	Properties map[string]any
}

// Partition is a partition of a DPM-mode CPC. HMC partition names may be
// longer, but a simulated partition's name follows the LPAR name rule so
// that NETID.NAU.NAME can be its target name.
type Partition struct {
	Name     string
	ObjectID string
	// Status is stopped, starting, active or stopping.
	Status string
	// Type is linux, ssc or zvm; empty means linux.
	Type string
	// Operations tunes start and stop.
	Operations map[string]Operation
	// BCPii are the partition's BCPii permissions; nil permits everything.
	BCPii *bcpii.Permissions
	// Properties set data-model properties to other values than the SE's
	// defaults.
	Properties map[string]any
}

// Operation tunes one operation on one object. The zero value is the
// operation's default behaviour.
type Operation struct {
	// Duration is how long the job runs; zero means DefaultDuration.
	Duration time.Duration
	// CancelDuration is how long a canceled job stays cancel-pending before
	// it ends canceled; zero ends it as soon as the cancel is seen.
	CancelDuration time.Duration
	// Cancelable, when set, overrides whether Cancel Job applies.
	Cancelable *bool
	// StatusCode, when not zero, replaces the job-status-code the operation
	// completes with when its state rules let it run; 2xx still changes the
	// object, anything else leaves it as it was. Zero keeps the built-in
	// outcome.
	StatusCode int
	// ReasonCode goes with a StatusCode that is not 2xx.
	ReasonCode int
	// Results, when not nil, is the job-results JSON object to complete
	// with. With a zero StatusCode it makes the outcome 200 with these
	// results.
	Results []byte
}

//go:embed default.yaml
var defaultInventory []byte

// DefaultInventory is the built-in inventory: CPC1 (IBM390PS.CPC1, classic)
// with LP1 operating, LP2 not-activated and LP3 not-operating, and CPC2
// (IBM390PS.CPC2, DPM) with PART1 stopped and PART2 active. Each call
// returns a fresh copy.
func DefaultInventory() (*Inventory, error) {
	inv, err := ParseInventory(defaultInventory)
	if err != nil {
		return nil, fmt.Errorf("simse: built-in inventory: %w", err)
	}
	return inv, nil
}

// LoadInventory reads and parses an inventory file.
func LoadInventory(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("simse: %w", err)
	}
	inv, err := ParseInventory(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}
