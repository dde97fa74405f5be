DefinitionBlock ("", "DSDT", 2, "KITE", "KITETEST", 1)
{
    Name (INT0, Zero)
    Name (INT1, One)
    Name (INTB, 0x12)
    Name (INTW, 0x1234)
    Name (INTD, 0x12345678)
    Name (INTQ, 0x123456789ABCDEF0)
    Name (STR, "hello")
    Name (_S5, Package () { 0x05, Zero, Zero, Zero })
    Scope (\_SB)
    {
        Device (COM1)
        {
            Name (_HID, EisaId ("PNP0501"))
            Name (_UID, One)
            Method (_STA, 0, NotSerialized)
            {
                Return (0x0F)
            }
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x03F8, 0x03F8, 0x00, 0x08)
                IRQNoFlags () {4}
            })
        }
        Device (PCI0)
        {
            Name (_HID, EisaId ("PNP0A08"))
            Name (_CID, EisaId ("PNP0A03"))
            Name (_CRS, ResourceTemplate ()
            {
                WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0x0000, 0x0000, 0x00FF, 0x0000, 0x0100,,,)
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8,,,, TypeStatic, DenseTranslation)
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, 0x00000000, 0xC0000000, 0xDFFFFFFF, 0x00000000, 0x20000000,,,, AddressRangeMemory, TypeStatic)
                QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0x0, 0x8000000000, 0xFFFFFFFFFF, 0x0, 0x8000000000,,,, AddressRangeMemory, TypeStatic)
                Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, ,, ) {0x10}
                Memory32Fixed (ReadWrite, 0xE0000000, 0x10000000)
            })
        }
    }
    Name (\_SB.PCI0.PRT0, Package () { Package () { 0xFFFF, Zero, Zero, 0x11 } })
}
